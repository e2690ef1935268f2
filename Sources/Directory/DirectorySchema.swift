import LDAPClient

/// The schema semailctl needs in a cn=config server, as loaded by
/// `directory setup`: the exact text of schema/openssh-lpk.ldif and
/// schema/semail.ldif (a unit test keeps them equal; regenerate the files
/// with scripts/schema-ldif.sh after changing a .schema file).
public struct DirectorySchema: Sendable {
    public let name: String
    public let ldif: String

    /// The cn=config entry (cn=NAME,cn=schema,cn=config).
    public var entry: LDAPEntry {
        // The texts are constants checked by the unit tests: a parse failure is a build defect.
        try! LDIF.records(ldif, file: "\(name).ldif").first!.entry!
    }

    public static let openSSHLPK = DirectorySchema(name: "openssh-lpk", ldif: openSSHLPKText)
    public static let semail = DirectorySchema(name: "semail", ldif: semailText)
    public static let software = DirectorySchema(name: "semail-software", ldif: softwareText)
    public static let all = [openSSHLPK, semail, software]
}

private let openSSHLPKText = """
    # openssh-lpk schema, cn=config form. Generated from schema/openssh-lpk.schema by
    # scripts/schema-ldif.sh (slaptest, as Debian's /etc/ldap/schema/*.ldif).
    # Load it with: ldapadd -Y EXTERNAL -H ldapi:/// -f openssh-lpk.ldif
    dn: cn=openssh-lpk,cn=schema,cn=config
    objectClass: olcSchemaConfig
    cn: openssh-lpk
    olcAttributeTypes: ( 1.3.6.1.4.1.24552.500.1.1.1.13 NAME 'sshPublicKey' DESC '
     MANDATORY: OpenSSH Public key' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1
     466.115.121.1.40 )
    olcObjectClasses: ( 1.3.6.1.4.1.24552.500.1.1.2.0 NAME 'ldapPublicKey' DESC 'M
     ANDATORY: OpenSSH LPK objectclass' SUP top AUXILIARY MAY ( sshPublicKey $ uid
      ) )

    """

private let semailText = """
    # semail schema, cn=config form. Generated from schema/semail.schema by
    # scripts/schema-ldif.sh (slaptest, as Debian's /etc/ldap/schema/*.ldif).
    # Load it with: ldapadd -Y EXTERNAL -H ldapi:/// -f semail.ldif
    dn: cn=semail,cn=schema,cn=config
    objectClass: olcSchemaConfig
    cn: semail
    olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1.1 NAME 'semailMailbox' DESC 'The ma
     ilbox address owned by this user (id@domain)' EQUALITY caseIgnoreIA5Match SUB
     STR caseIgnoreIA5SubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-
     VALUE )
    olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1.2 NAME 'semailVolumeSize' DESC 'Siz
     e of the mailbox volume in bytes' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.14
     66.115.121.1.27 SINGLE-VALUE )
    olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1.4 NAME 'semailState' DESC 'The mail
     box state: active (or absent) or suspended' EQUALITY caseIgnoreMatch SYNTAX 1
     .3.6.1.4.1.1466.115.121.1.15{32} SINGLE-VALUE )
    olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1.5 NAME 'semailStateReason' DESC 'Wh
     y the mailbox is in its state (shown to the admin)' EQUALITY caseIgnoreMatch
      SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{256} SINGLE-VALUE )
    olcObjectClasses: ( 1.3.6.1.4.1.99999.1.2.1 NAME 'semailUser' DESC 'A user wit
     h a semail mailbox' SUP top AUXILIARY MAY ( semailMailbox $ semailVolumeSize
      $ semailState $ semailStateReason ) )

    """

private let softwareText = """
    # semail-software schema, cn=config form. Generated from schema/semail-software.schema by
    # scripts/schema-ldif.sh (slaptest, as Debian's /etc/ldap/schema/*.ldif).
    # Load it with: ldapadd -Y EXTERNAL -H ldapi:/// -f semail-software.ldif
    dn: cn=semail-software,cn=schema,cn=config
    objectClass: olcSchemaConfig
    cn: semail-software
    olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1.3 NAME 'semailPackage' DESC 'A Debi
     an package to install in the user mailbox container' EQUALITY caseIgnoreIA5Ma
     tch SYNTAX 1.3.6.1.4.1.1466.115.121.1.26{100} )
    olcObjectClasses: ( 1.3.6.1.4.1.99999.1.2.2 NAME 'semailSoftware' DESC 'A user
      who chose programs for their mailbox container' SUP top AUXILIARY MAY semail
     Package )

    """
