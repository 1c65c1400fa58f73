/* log.h: logging. Modules log at debug level only (enabled by -v or PTCTL_DEBUG=1); the command
 * line reports errors once, object first, with the reason and what to do. */
#pragma once

#include "util.h"

void log_set_level(int level); /* 0 quiet, 1 info, 2 debug */
int log_get_level(void);
void log_debug_full(const char *file, int line, const char *fmt, ...) _printf_(3, 4);
#define log_debug(...) log_debug_full(__FILE__, __LINE__, __VA_ARGS__)

/* For tools/ only: one line to stderr, "ptctl: " + message. Returns -abs(err) when err != 0. */
int log_error_errno(int err, const char *fmt, ...) _printf_(2, 3);
void log_error(const char *fmt, ...) _printf_(1, 2);
void log_warning(const char *fmt, ...) _printf_(1, 2);
void log_info(const char *fmt, ...) _printf_(1, 2);
