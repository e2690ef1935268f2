// The portal's pages (swift-mustache). Every value is inserted with {{ }},
// which escapes HTML: never {{{ }}} here, for anything. No script anywhere;
// the progress page reloads itself with a meta refresh.

enum Templates {
    static let all: [String: String] = [
        "head": head, "foot": foot, "login": login, "home": home, "create": create, "progress": progress,
        "keys": keys, "password": password, "software": software, "delete": delete, "error": error
    ]

    static let head = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        {{#refresh}}<meta http-equiv="refresh" content="1">{{/refresh}}
        <title>{{title}} · semail</title>
        <link rel="stylesheet" href="/style.css">
        </head>
        <body>
        <header>
        <strong class="brand">semail</strong>
        {{#uid}}
        <nav>
        <a href="/">My mailbox</a> <a href="/keys">SSH keys</a> <a href="/software">My software</a>
        <a href="/password">Password</a>
        <form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="{{csrf}}">
        <button class="link">Log out {{uid}}</button></form>
        </nav>
        {{/uid}}
        </header>
        <main>
        <h1>{{title}}</h1>
        {{#flash}}<p class="flash{{#flashError}} error{{/flashError}}" role="status">{{flash}}</p>{{/flash}}

        """

    static let foot = """
        </main>
        </body>
        </html>

        """

    static let login = """
        {{> head}}
        <form method="post" action="/login" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>User name <input name="uid" autocomplete="username" required value="{{given}}"></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
        <button>Log in</button>
        </form>
        <p class="muted">Your directory user name and password. After {{attempts}} failed attempts,
        logging in waits a few minutes.</p>
        {{> foot}}
        """

    static let home = """
        {{> head}}
        <p class="muted">Logged in as {{cn}} ({{uid}})</p>
        {{#job}}<p class="card">A change of your mailbox is under way: <a href="/progress">see its progress</a>.</p>{{/job}}
        {{^mailbox}}
        <section class="card">
        <p>You have no mailbox yet.</p>
        <p><a class="button" href="/create">Create my mailbox</a></p>
        </section>
        {{/mailbox}}
        {{#mailbox}}
        <section class="card">
        <h2>{{address}}</h2>
        {{#refused}}<p class="error">Not delivered: {{refused}}</p>{{/refused}}
        {{#suspended}}<p class="error">Suspended by the administrator{{#reason}}: {{reason}}{{/reason}}.
        Your mail is kept and still arrives; your container is stopped until the administrator resumes it.</p>
        {{/suspended}}
        <p>Volume:
        {{#volume}}<meter min="0" max="{{sizeBytes}}" value="{{usedBytes}}">{{percent}}%</meter>
        {{used}} used of {{size}} ({{percent}}%){{/volume}}
        {{^volume}}<span class="error">not mounted</span>{{/volume}}</p>
        <p>Container: <span class="state state-{{state}}">{{state}}</span></p>
        <p>Delivery: {{#delivered}}on{{/delivered}}{{^delivered}}<span class="error">off</span>{{/delivered}}</p>
        </section>
        <section class="card">
        <h2>Reach your container</h2>
        {{#sshCommand}}<p>With ssh:</p><pre>{{sshCommand}}</pre>{{/sshCommand}}
        {{#sshConfig}}<p>Or add this to <code>~/.ssh/config</code>, then <code>ssh {{sshHost}}</code>:</p>
        <pre>{{sshConfig}}</pre>
        <p>and this line to <code>~/.ssh/known_hosts</code>:</p><pre>{{knownHosts}}</pre>{{/sshConfig}}
        {{^hasKeys}}<p class="error">Your container accepts only SSH keys, and you have none:
        <a href="/keys">add one</a>.</p>{{/hasKeys}}
        </section>
        <section class="card">
        <h2>Mail exchanger (MX)</h2>
        {{#managed}}<p>{{#mxOk}}The MX record of {{domain}} is published.{{/mxOk}}{{^mxOk}}
        <span class="error">The MX record of {{domain}} is missing</span> (the administrator's repair
        puts it back).{{/mxOk}}</p>{{/managed}}
        {{^managed}}
        <p>{{domain}} is your own domain: publish this record in its zone so mail reaches your mailbox:</p>
        {{#publish}}<pre>{{.}}</pre>{{/publish}}
        {{#mx}}<p>Last check: <span class="{{^ok}}error{{/ok}}">{{message}}</span></p>{{/mx}}
        <form method="post" action="/mx"><input type="hidden" name="csrf" value="{{csrf}}">
        <button>Check now</button></form>
        {{/managed}}
        </section>
        <p><a href="/delete" class="danger">Delete my mailbox…</a></p>
        {{/mailbox}}
        {{> foot}}
        """

    static let create = """
        {{> head}}
        <section class="card">
        <h2>What you may choose</h2>
        <ul>
        <li>The part before the @: letters, digits, dots, hyphens and underscores; not a role address
        ({{roles}}).</li>
        <li>Either a subdomain of {{zone}} nobody else uses (not {{zone}} itself): its MX record is made for you;</li>
        <li>or a domain of your own: you publish its MX record and a TXT record that proves it is yours
        (shown after the check).</li>
        </ul>
        </section>
        <form method="post" action="/create/check" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Before the @ <input name="local" required value="{{local}}" autocapitalize="none"></label>
        <fieldset>
        <legend>After the @</legend>
        <label><input type="radio" name="kind" value="sub" {{^external}}checked{{/external}}>
        <input name="sub" value="{{sub}}" autocapitalize="none" aria-label="subdomain">.{{zone}}</label>
        <label><input type="radio" name="kind" value="ext" {{#external}}checked{{/external}}>
        my own domain <input name="ext" value="{{ext}}" autocapitalize="none" aria-label="domain"></label>
        </fieldset>
        <button>Check this address</button>
        </form>
        {{#preview}}
        <section class="card" id="result">
        {{#allowed}}
        <p class="ok">{{address}} is free and allowed.</p>
        {{#hasPublish}}<p>Publish these records in the zone of your domain:</p>{{/hasPublish}}
        {{#publish}}<pre>{{.}}</pre>{{/publish}}
        <form method="post" action="/create">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="address" value="{{address}}">
        <button>Create {{address}}</button>
        </form>
        {{/allowed}}
        {{^allowed}}
        <p class="error">{{refusal}}</p>
        {{#why}}<p>Why: {{why}}</p>{{/why}}
        {{#hint}}<p>What to do: {{hint}}</p>{{/hint}}
        {{#hasPublish}}<p>The records for your domain:</p>{{/hasPublish}}
        {{#publish}}<pre>{{.}}</pre>{{/publish}}
        {{/allowed}}
        </section>
        {{/preview}}
        {{> foot}}
        """

    static let progress = """
        {{> head}}
        <section class="card">
        <p>{{what}} <strong>{{address}}</strong></p>
        <ol class="steps">
        {{#steps}}<li class="step-{{state}}"><span class="mark">{{mark}}</span> {{label}}</li>{{/steps}}
        </ol>
        {{#running}}<p class="muted">This page reloads itself every second.</p>{{/running}}
        {{#ok}}<p class="ok">Done.</p><p><a class="button" href="/">Go to my mailbox</a></p>{{/ok}}
        {{#failure}}<p class="error">{{what}}</p><p>{{why}}</p>{{#hint}}<p>What to do: {{hint}}</p>{{/hint}}
        {{#hasRolledBack}}<p>Undone: {{#rolledBack}}{{.}} {{/rolledBack}}</p>{{/hasRolledBack}}
        <p><a href="/">Back</a></p>{{/failure}}
        </section>
        {{> foot}}
        """

    static let keys = """
        {{> head}}
        <section class="card">
        {{^keys}}<p>You have no SSH key: your container cannot be reached until you add one.</p>{{/keys}}
        <ul class="keys">
        {{#keys}}<li><code>{{type}}</code> {{comment}}<br><code class="fp">{{fingerprint}}</code>
        <form method="post" action="/keys/remove" class="inline"><input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="fingerprint" value="{{fingerprint}}"><button class="link danger">Remove</button></form>
        </li>{{/keys}}
        </ul>
        </section>
        <form method="post" action="/keys/add" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>A public key (the content of <code>~/.ssh/id_ed25519.pub</code>)
        <textarea name="key" rows="4" required autocapitalize="none" spellcheck="false"></textarea></label>
        <button>Add this key</button>
        <p class="muted">Adding or removing a key rebuilds your container (a few seconds; your mail stays).</p>
        </form>
        {{> foot}}
        """

    static let password = """
        {{> head}}
        <form method="post" action="/password" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Current password <input name="current" type="password" autocomplete="current-password" required></label>
        <label>New password <input name="new" type="password" autocomplete="new-password" required></label>
        <label>New password again <input name="again" type="password" autocomplete="new-password" required></label>
        <button>Change my password</button>
        </form>
        {{> foot}}
        """

    static let software = """
        {{> head}}
        <section class="card">
        <p>Programs installed in your container besides the usual ones{{#hasGlobal}} (every container has:
        {{#global}}<code>{{.}}</code> {{/global}}){{/hasGlobal}}. You are not root in your container:
        choose them here, by their Debian package name (e.g. <code>mutt</code>, <code>neomutt</code>,
        <code>aerc</code>).</p>
        {{^packages}}<p>You have chosen none.</p>{{/packages}}
        <ul>
        {{#packages}}<li><code>{{.}}</code>
        <form method="post" action="/software/remove" class="inline"><input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="package" value="{{.}}"><button class="link danger">Remove</button></form></li>
        {{/packages}}
        </ul>
        </section>
        <form method="post" action="/software/add" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Debian package <input name="package" required autocapitalize="none" spellcheck="false"></label>
        <button>Add</button>
        <p class="muted">Your container is rebuilt with it (your mail stays). If it cannot be installed,
        nothing changes and you are told why.</p>
        </form>
        {{> foot}}
        """

    static let delete = """
        {{> head}}
        <section class="card">
        <p>Deleting <strong>{{address}}</strong>:</p>
        <ul>
        <li>stops mail delivery to it at once: mail sent to it afterwards is refused;</li>
        <li>removes your container;</li>
        <li><strong>destroys your mail volume and all the mail in it</strong>. No copy is kept:
        copy what you want to keep over ssh first;</li>
        <li>removes the MX record{{^managed}} (you remove the one you published for {{domain}}){{/managed}}.</li>
        </ul>
        <p>Your account, password and SSH keys stay; you can create a mailbox again later.</p>
        </section>
        <form method="post" action="/delete" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>To confirm, type your address <code>{{address}}</code>
        <input name="confirm" autocomplete="off" autocapitalize="none" spellcheck="false" required></label>
        <button class="danger">Delete my mailbox and all its mail</button>
        </form>
        {{> foot}}
        """

    static let error = """
        {{> head}}
        <section class="card"><p class="error">{{message}}</p><p><a href="/">Back</a></p></section>
        {{> foot}}
        """

    static let css = """
        :root { color-scheme: light dark; --fg: #1b1b1b; --bg: #fafafa; --card: #fff; --line: #d0d0d0;
          --accent: #1d5fb4; --bad: #b3261e; --good: #1e6b34; }
        @media (prefers-color-scheme: dark) { :root { --fg: #e8e8e8; --bg: #161616; --card: #222; --line: #444;
          --accent: #8ab4f8; --bad: #f28b82; --good: #81c995; } }
        * { box-sizing: border-box; }
        body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
        header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .75rem 1rem;
          border-bottom: 1px solid var(--line); }
        nav { display: flex; flex-wrap: wrap; gap: .25rem 1rem; align-items: center; }
        main { max-width: 42rem; margin: 0 auto; padding: 1rem; }
        h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
        h2 { font-size: 1.15rem; margin: 0 0 .5rem; overflow-wrap: anywhere; }
        a { color: var(--accent); }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: 1rem;
          margin: 0 0 1rem; }
        label { display: block; margin: 0 0 .75rem; }
        input:not([type=radio]), textarea { display: block; width: 100%; font: inherit; padding: .5rem;
          margin-top: .25rem; border: 1px solid var(--line); border-radius: .25rem; background: var(--bg);
          color: var(--fg); }
        fieldset label input:not([type=radio]) { display: inline-block; width: auto; max-width: 60%; }
        fieldset { border: 1px solid var(--line); border-radius: .25rem; margin: 0 0 .75rem; }
        button, .button { display: inline-block; font: inherit; padding: .5rem 1rem; border: 0; border-radius: .25rem;
          background: var(--accent); color: #fff; text-decoration: none; cursor: pointer; }
        button.link { background: none; color: var(--accent); padding: 0; text-decoration: underline; }
        .danger { color: var(--bad); } button.danger:not(.link) { background: var(--bad); color: #fff; }
        form.inline { display: inline; }
        pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--bg); border: 1px solid var(--line);
          padding: .5rem; border-radius: .25rem; font-size: .9rem; }
        code { overflow-wrap: anywhere; }
        meter { width: 100%; height: 1.25rem; display: block; }
        .error { color: var(--bad); } .ok { color: var(--good); } .muted { opacity: .75; font-size: .9rem; }
        .flash { padding: .5rem 1rem; border-left: 4px solid var(--good); background: var(--card); }
        .flash.error { border-left-color: var(--bad); }
        .state-running { color: var(--good); font-weight: bold; }
        .steps { padding-left: 1.25rem; } .steps li { margin: .25rem 0; }
        .step-done .mark { color: var(--good); } .step-failed .mark { color: var(--bad); }
        .step-pending { opacity: .55; } .step-running { font-weight: bold; }
        .keys li { margin-bottom: .75rem; } .fp { font-size: .85rem; }

        """
}
