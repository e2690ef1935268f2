#ifndef SEMAIL_CLVM2_SHIM_H
#define SEMAIL_CLVM2_SHIM_H
#include <lvm2cmd.h>
#endif
