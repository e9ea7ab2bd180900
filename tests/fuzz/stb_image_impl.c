/* stb_image_impl.c — stb_image compiled into the fuzz targets (instead of Debian's libstb.so), so
 * that libFuzzer sees coverage inside the decoders and ASan checks their memory accesses. */
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
