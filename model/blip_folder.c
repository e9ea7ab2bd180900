#include "model/blip_folder.h"

#include "util/error.h"
#include "util/fileio.h"

#include <stdlib.h>

int blip_folder_open(const char *dir, blip_arch want, int allow_unknown, const char *what, blip_config *cfg,
                     blip_params **params) {
    *params = NULL;
    char *cfg_path = vk_path_join(dir, "config.json");
    int rc = cfg_path ? blip_config_load(cfg_path, cfg) : vk_err_set("out of memory");
    free(cfg_path);
    if (rc) return -1;
    if (cfg->arch != want && !(allow_unknown && cfg->arch == BLIP_ARCH_UNKNOWN))
        return vk_err_set("%s: this is a %s checkpoint, not a %s (%s)", dir, blip_arch_name(cfg->arch), what,
                          blip_arch_name(want));
    *params = blip_params_load(dir);
    return *params ? 0 : -1;
}
