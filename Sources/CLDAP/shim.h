#ifndef SEMAIL_CLDAP_SHIM_H
#define SEMAIL_CLDAP_SHIM_H
#include <lber.h>
#include <ldap.h>

/* Function-like macros and union members Swift cannot see, wrapped once. */
static inline void semail_ldapmod_set_bvalues(LDAPMod *mod, struct berval **values) {
    mod->mod_bvalues = values;
}
static inline int semail_ldap_msgid_any(void) { return LDAP_RES_ANY; }
#endif
