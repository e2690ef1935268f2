#define _GNU_SOURCE
#include "cshims.h"
#include <errno.h>
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

static long semail_spawns;
long semail_spawn_count(void) { return __atomic_load_n(&semail_spawns, __ATOMIC_RELAXED); }

int semail_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                 int in_fd, int out_fd, int err_fd) {
    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc) return rc;
    if ((rc = posix_spawn_file_actions_adddup2(&fa, in_fd, 0)) ||
        (rc = posix_spawn_file_actions_adddup2(&fa, out_fd, 1)) ||
        (rc = posix_spawn_file_actions_adddup2(&fa, err_fd, 2)) ||
        (rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3))) {
        posix_spawn_file_actions_destroy(&fa);
        return rc;
    }
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGTERM);
    posix_spawnattr_setsigdefault(&attr, &def);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    rc = posix_spawn(pid, path, &fa, &attr, argv, envp);
    if (rc == 0) __atomic_add_fetch(&semail_spawns, 1, __ATOMIC_RELAXED);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

int semail_wait(pid_t pid) {
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, 0);
        if (r == pid) return status;
        if (r < 0 && errno == EINTR) continue;
        return -errno;
    }
}
int semail_wifexited(int s) { return WIFEXITED(s); }
int semail_wexitstatus(int s) { return WEXITSTATUS(s); }
int semail_wtermsig(int s) { return WIFSIGNALED(s) ? WTERMSIG(s) : 0; }

int semail_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
int semail_tmpfile(const char *dir) { return open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600); }

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>

/* One query of `type` for `name` (the system resolver, or server:port),
   parsed into `msg` (whose buffer is `ans`); -1 with *herr set on failure. */
static int semail_query(const char *name, const char *server, int port, int type, unsigned char *ans, int anslen, ns_msg *msg, int *herr) {
    struct __res_state st;
    memset(&st, 0, sizeof st);
    if (res_ninit(&st) != 0) { *herr = NO_RECOVERY; return -1; }
    st.retrans = 2;
    st.retry = 2;
    if (server && *server) {
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((unsigned short)port);
        if (inet_pton(AF_INET, server, &sa.sin_addr) != 1) { res_nclose(&st); *herr = NO_RECOVERY; return -1; }
        st.nsaddr_list[0] = sa;
        st.nscount = 1;
    }
    int n = res_nquery(&st, name, ns_c_in, type, ans, anslen);
    if (n < 0) { *herr = st.res_h_errno; res_nclose(&st); return -1; }
    res_nclose(&st);
    /* res_nquery returns the answer's whole length even when it did not fit
       (a large answer over TCP): never parse past the buffer. */
    if (n > anslen) { *herr = NO_RECOVERY; return -1; }
    if (ns_initparse(ans, n, msg) < 0) { *herr = NO_RECOVERY; return -1; }
    return 0;
}

int semail_query_mx(const char *name, const char *server, int port, char *out, unsigned long outlen, int *herr) {
    unsigned char ans[8192];
    ns_msg msg;
    if (semail_query(name, server, port, ns_t_mx, ans, sizeof ans, &msg, herr) < 0) return -1;
    int count = ns_msg_count(msg, ns_s_an), found = 0;
    size_t used = 0;
    if (outlen) out[0] = 0;
    for (int i = 0; i < count; i++) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, i, &rr) < 0) continue;
        if (ns_rr_type(rr) != ns_t_mx || ns_rr_rdlen(rr) < 3) continue;
        unsigned pref = ns_get16(ns_rr_rdata(rr));
        char host[NS_MAXDNAME];
        if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 2, host, sizeof host) < 0) continue;
        int w = snprintf(out + used, outlen - used, "%u %s\n", pref, host);
        if (w < 0 || (size_t)w >= outlen - used) break;
        used += (size_t)w;
        found++;
    }
    *herr = found ? 0 : NO_DATA;
    return found;
}

/* TXT records of `name`: each record's strings joined, one record a line
   (bytes outside printable ASCII become '?'). Same conventions as above. */
int semail_query_txt(const char *name, const char *server, int port, char *out, unsigned long outlen, int *herr) {
    unsigned char ans[8192];
    ns_msg msg;
    if (semail_query(name, server, port, ns_t_txt, ans, sizeof ans, &msg, herr) < 0) return -1;
    int count = ns_msg_count(msg, ns_s_an), found = 0;
    size_t used = 0;
    if (outlen) out[0] = 0;
    for (int i = 0; i < count; i++) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, i, &rr) < 0) continue;
        if (ns_rr_type(rr) != ns_t_txt) continue;
        const unsigned char *p = ns_rr_rdata(rr), *end = p + ns_rr_rdlen(rr);
        while (p < end) {
            unsigned len = *p++;
            if (p + len > end) break;
            for (unsigned k = 0; k < len && used + 2 < outlen; k++) out[used++] = (p[k] >= 0x20 && p[k] < 0x7f) ? (char)p[k] : '?';
            p += len;
        }
        if (used + 1 < outlen) out[used++] = '\n';
        out[used] = 0;
        found++;
    }
    *herr = found ? 0 : NO_DATA;
    return found;
}

#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int semail_loop_attach(const char *file, char *dev, unsigned long devlen) {
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0) return -errno;
    int ffd = open(file, O_RDWR | O_CLOEXEC);
    if (ffd < 0) { int e = errno; close(ctl); return -e; }
    for (int attempt = 0; attempt < 64; attempt++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0) { int e = errno; close(ffd); close(ctl); return -e; }
        snprintf(dev, devlen, "/dev/loop%d", n);
        struct stat st;
        if (stat(dev, &st) != 0 && errno == ENOENT) {
            if (mknod(dev, S_IFBLK | 0660, makedev(7, n)) != 0 && errno != EEXIST) { int e = errno; close(ffd); close(ctl); return -e; }
        }
        int lfd = open(dev, O_RDWR | O_CLOEXEC);
        if (lfd < 0) { int e = errno; close(ffd); close(ctl); return -e; }
        struct loop_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.fd = (unsigned)ffd;
        cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
        strncpy((char *)cfg.info.lo_file_name, file, LO_NAME_SIZE - 1);
        if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) { close(ffd); close(ctl); return lfd; }
        int e = errno;
        close(lfd);
        if (e != EBUSY) { close(ffd); close(ctl); return -e; }  /* EBUSY: another process took it first */
    }
    close(ffd); close(ctl);
    return -EBUSY;
}

int semail_loop_set_capacity(const char *dev) {
    int fd = open(dev, O_RDWR | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = ioctl(fd, LOOP_SET_CAPACITY, 0) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int semail_loop_detach(const char *dev) {
    int fd = open(dev, O_RDWR | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = ioctl(fd, LOOP_CLR_FD, 0) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

#include <linux/fs.h>

static int immutable_fd(const char *dir) { return open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK); }

int semail_is_immutable(const char *dir) {
    int fd = immutable_fd(dir);
    if (fd < 0) return -errno;
    int flags = 0;
    int rc = ioctl(fd, FS_IOC_GETFLAGS, &flags);
    int e = errno;
    close(fd);
    if (rc != 0) return -e;
    return (flags & FS_IMMUTABLE_FL) ? 1 : 0;
}

int semail_set_immutable(const char *dir, int on) {
    int fd = immutable_fd(dir);
    if (fd < 0) return -errno;
    int flags = 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) { int e = errno; close(fd); return -e; }
    int want = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    int rc = want == flags ? 0 : ioctl(fd, FS_IOC_SETFLAGS, &want);
    int e = errno;
    close(fd);
    return rc == 0 ? 0 : -e;
}

#include <stdio.h>
int semail_rename_noreplace(int fromfd, const char *from, int tofd, const char *to) {
    return renameat2(fromfd, from, tofd, to, RENAME_NOREPLACE) == 0 ? 0 : -errno;
}
