/* jpeg_check.h — a pre-check of JPEG marker segments that stb_image v2.27 trusts.
 *
 * Debian 12's stb_image (v2.27) does not check that a Huffman table (DHT segment) declares at
 * most 256 codes; a larger count writes past the table inside the decoder (heap overflow; fixed
 * upstream in v2.28, found here by tests/fuzz/fuzz_image). vlkit decodes user files, so it walks
 * the markers first and refuses such a file. */
#ifndef VLKIT_DATA_JPEG_CHECK_H
#define VLKIT_DATA_JPEG_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* 0 when b[0..n) is not a JPEG, or every DHT segment in it is sound; -1 when a DHT table declares
 * more than 256 codes (vk_err not touched: the caller names the file). */
int jpeg_check_dht(const uint8_t *b, size_t n);

#endif
