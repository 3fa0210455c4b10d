/* modules.h — load the kernel modules the image lists, dependencies first
 * (modules.dep order), with finit_module(2). No modprobe, no kmod library.
 *
 * Never: aborts boot (a missing or failing module is a logged result), or
 * reads anything but the list and MODDIR/modules.dep.
 */
#ifndef BAY0_MODULES_H
#define BAY0_MODULES_H

#include <stdint.h>

#define MODULES_LIST_PATH_DEFAULT "/etc/bay0/modules"
#define MODULES_DIR_BASE "/lib/modules"
#define MODULES_LIST_BYTES_MAX 4096
#define MODULES_DEP_BYTES_MAX (1024 * 1024)
#define MODULES_NAME_BYTES_MAX 64
#define MODULES_LOADED_MAX 128 /* modules one run can load */
#define MODULES_DEPS_PER_MODULE_MAX 64
#define MODULES_DEPTH_MAX 16

struct modules_result {
    uint32_t loaded;  /* finit_module succeeded */
    uint32_t already; /* EEXIST: built in or loaded before */
    uint32_t missing; /* not in modules.dep (or its file is missing) */
    uint32_t failed;  /* finit_module refused */
};

/* Load every module named in list_path (one name a line, '#' comments),
 * each after its dependencies from moddir/modules.dep. moddir NULL means
 * /lib/modules/$(uname -r). Logs one line per module. Returns 0 when the
 * list and modules.dep were read (whatever the per-module results), -1 if
 * they could not be (logged); a missing list is 0 with nothing loaded. */
int modules_load_list(const char *list_path, const char *moddir,
                      struct modules_result *res);

#endif
