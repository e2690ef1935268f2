#ifndef SEMAIL_CCURL_SHIM_H
#define SEMAIL_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt is variadic: Swift cannot call it, so each type of
   option gets one typed shim. */
static inline CURLcode semail_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode semail_curl_setopt_ptr(CURL *h, CURLoption o, const void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode semail_curl_setopt_write(CURL *h, CURLoption o, size_t (*cb)(char *, size_t, size_t, void *)) { return curl_easy_setopt(h, o, cb); }
static inline CURLcode semail_curl_setopt_xferinfo(CURL *h, CURLoption o, int (*cb)(void *, curl_off_t, curl_off_t, curl_off_t, curl_off_t)) { return curl_easy_setopt(h, o, cb); }
static inline CURLcode semail_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
#endif
