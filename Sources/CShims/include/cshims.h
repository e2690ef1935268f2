#ifndef SEMAIL_CSHIMS_H
#define SEMAIL_CSHIMS_H
#include <sys/types.h>

/* posix_spawn with stdin/stdout/stderr set to the given descriptors and
   every other descriptor closed in the child (so a daemon started by a
   script inherits nothing of ours). Returns 0 or an errno value. */
/* Processes semail_spawn started (SEMAIL_TRACE_CALLS). */
long semail_spawn_count(void);
int semail_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                 int in_fd, int out_fd, int err_fd);

/* waitpid retried on EINTR; returns the raw status or -errno. */
int semail_wait(pid_t pid);
int semail_wifexited(int status);
int semail_wexitstatus(int status);
int semail_wtermsig(int status);

/* pipe2(O_CLOEXEC) and an unnamed O_TMPFILE in dir: GNU names Swift's Glibc
   module does not show. */
int semail_pipe_cloexec(int fds[2]);
int semail_tmpfile(const char *dir);

/* MX records of `name` through libresolv: the system resolver when `server`
   is empty, else that IPv4 address and port. Writes "PREF HOST\n" lines
   into `out`; returns the number of records, or -1 with *herr set to
   h_errno (1 HOST_NOT_FOUND, 2 TRY_AGAIN, 3 NO_RECOVERY, 4 NO_DATA). */
int semail_query_mx(const char *name, const char *server, int port, char *out, unsigned long outlen, int *herr);

/* TXT records of `name`, one record a line (its strings joined); same
   resolver, return value and *herr as semail_query_mx. */
int semail_query_txt(const char *name, const char *server, int port, char *out, unsigned long outlen, int *herr);

/* Loop devices (loop-control + LOOP_CONFIGURE). semail_loop_attach attaches
   `file` with LO_FLAGS_AUTOCLEAR, creating the /dev/loopN node if missing,
   writes the device path into `dev` and returns the open device descriptor
   (the device is detached once it is closed and unmounted), or -errno. */
int semail_loop_attach(const char *file, char *dev, unsigned long devlen);
/* Re-reads the backing file's size (after it grew). 0 or -errno. */
int semail_loop_set_capacity(const char *dev);
/* Detaches a loop device now (LOOP_CLR_FD). 0 or -errno. */
int semail_loop_detach(const char *dev);

/* Sets (on != 0) or clears the immutable attribute (FS_IMMUTABLE_FL) of a
   directory, opened O_NOFOLLOW|O_DIRECTORY. 0 or -errno (-ENOTTY or
   -EOPNOTSUPP: the filesystem has no such attribute). */
int semail_set_immutable(const char *dir, int on);
/* 1 when the directory carries FS_IMMUTABLE_FL, 0 when not, or -errno. */
int semail_is_immutable(const char *dir);

/* renameat2(RENAME_NOREPLACE): moves FROM (in directory FROMFD) to TO (in
   TOFD), failing with EEXIST instead of replacing. 0 or -errno. */
int semail_rename_noreplace(int fromfd, const char *from, int tofd, const char *to);

#endif
