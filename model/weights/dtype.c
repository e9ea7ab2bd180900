#include "model/weights/dtype.h"

#include "util/error.h"

#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtype_info[VK_DTYPE_COUNT] = {
    [VK_DTYPE_BOOL] = {"BOOL", 1},
    [VK_DTYPE_U8] = {"U8", 1},
    [VK_DTYPE_I8] = {"I8", 1},
    [VK_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
    [VK_DTYPE_F8_E4M3] = {"F8_E4M3", 1},
    [VK_DTYPE_F8_E8M0] = {"F8_E8M0", 1},
    [VK_DTYPE_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 1},
    [VK_DTYPE_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 1},
    [VK_DTYPE_I16] = {"I16", 2},
    [VK_DTYPE_U16] = {"U16", 2},
    [VK_DTYPE_F16] = {"F16", 2},
    [VK_DTYPE_BF16] = {"BF16", 2},
    [VK_DTYPE_I32] = {"I32", 4},
    [VK_DTYPE_U32] = {"U32", 4},
    [VK_DTYPE_F32] = {"F32", 4},
    [VK_DTYPE_C64] = {"C64", 8},
    [VK_DTYPE_F64] = {"F64", 8},
    [VK_DTYPE_I64] = {"I64", 8},
    [VK_DTYPE_U64] = {"U64", 8},
};

const char *vk_dtype_name(vk_dtype dt) {
    return (unsigned)dt < VK_DTYPE_COUNT ? dtype_info[dt].name : "?";
}

size_t vk_dtype_size(vk_dtype dt) {
    return (unsigned)dt < VK_DTYPE_COUNT ? dtype_info[dt].size : 0;
}

int vk_dtype_parse(const char *name, vk_dtype *out) {
    for (int i = 0; i < VK_DTYPE_COUNT; i++)
        if (strcmp(name, dtype_info[i].name) == 0) {
            *out = (vk_dtype)i;
            return 0;
        }
    /* Known to the format, but elements do not fill whole bytes: views would need bit
     * addressing, which nothing in vlkit does. */
    static const char *const sub_byte[] = {"F4", "F6_E2M3", "F6_E3M2"};
    for (size_t i = 0; i < sizeof sub_byte / sizeof *sub_byte; i++)
        if (strcmp(name, sub_byte[i]) == 0) return vk_err_set("dtype '%s' (sub-byte) is not supported", name);
    return vk_err_set("unknown dtype '%s'", name);
}
