/* ptb_chars.c — the character classes of the PTB lexer (see ptb_chars.h). General categories
 * come from utf8proc; the lexer's own symbol set is a table of ranges. */
#include "eval/ptb_chars.h"

#include <utf8proc.h>

static utf8proc_category_t cat(uint32_t c) { return utf8proc_category((utf8proc_int32_t)c); }

int ptb_is_letter(uint32_t c) {
    if (c < 0x80) return ptb_is_ascii_alpha(c);
    if (c > 0xFFFF) return 0;
    utf8proc_category_t k = cat(c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO;
}

int ptb_is_letter_ext(uint32_t c) {
    if (c < 0x80) return ptb_is_ascii_alpha(c);
    if (ptb_is_letter(c) || c == 0xAD) return 1;
    if (c > 0xFFFF) return 0;
    /* The lexer adds combining marks of many scripts and a few spacing modifier letters. */
    utf8proc_category_t k = cat(c);
    if (c >= 0x300 && (k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME)) return 1;
    return (c >= 0x2C2 && c <= 0x2C5) || (c >= 0x2D2 && c <= 0x2DF) || (c >= 0x2E5 && c <= 0x2FF) ||
           (c >= 0x370 && c <= 0x37D) || c == 0x384 || c == 0x385 || c == 0x3F6 || (c >= 0x55A && c <= 0x55F);
}

int ptb_is_digit(uint32_t c) {
    if (c < 0x80) return ptb_is_ascii_digit(c);
    if (c > 0xFFFF) return 0;
    return cat(c) == UTF8PROC_CATEGORY_ND;
}

int ptb_is_upper(uint32_t c) {
    if (c < 0x80) return c >= 'A' && c <= 'Z';
    if (c > 0xFFFF) return 0;
    /* Lu plus the Other_Uppercase code points of the BMP (Roman numerals, circled letters) */
    return cat(c) == UTF8PROC_CATEGORY_LU || (c >= 0x2160 && c <= 0x216F) || (c >= 0x24B6 && c <= 0x24CF);
}

int ptb_is_newline(uint32_t c) {
    return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x85 || c == 0x2028 || c == 0x2029;
}

int ptb_is_zero_width(uint32_t c) { return c == 0 || c == 0x200B || c == 0x200E || c == 0x200F || c == 0xFEFF; }

/* Sorted, inclusive. */
static const uint32_t misc_ranges[][2] = {
    {0x25, 0x26},     {0x2B, 0x2B},     {0x5C, 0x5C},     {0x5E, 0x5E},     {0x7C, 0x7C},     {0x7E, 0x7E},
    {0xA6, 0xA9},     {0xAC, 0xAC},     {0xAE, 0xBA},     {0xD7, 0xD7},     {0xF7, 0xF7},     {0x387, 0x387},
    {0x5BE, 0x5BE},   {0x5C0, 0x5C0},   {0x5C3, 0x5C3},   {0x5C6, 0x5C6},   {0x5F3, 0x5F4},   {0x600, 0x603},
    {0x606, 0x60A},   {0x60C, 0x60C},   {0x614, 0x614},   {0x61B, 0x61B},   {0x61E, 0x61E},   {0x66A, 0x66A},
    {0x66D, 0x66D},   {0x703, 0x70D},   {0x7F6, 0x7F8},   {0x964, 0x965},   {0xE4F, 0xE4F},   {0x1FBD, 0x1FBD},
    {0x2016, 0x2017}, {0x2020, 0x2023}, {0x2030, 0x2038}, {0x203B, 0x203B}, {0x203E, 0x2042}, {0x2044, 0x2044},
    {0x207A, 0x207F}, {0x208A, 0x208E}, {0x2100, 0x214F}, {0x2190, 0x21FF}, {0x2200, 0x2BFF}, {0x3012, 0x3012},
    {0x30FB, 0x30FB}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF20}, {0xFF3B, 0xFF40}, {0xFF5B, 0xFF65},
};

int ptb_is_misc_symbol(uint32_t c) {
    size_t lo = 0, hi = sizeof misc_ranges / sizeof misc_ranges[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < misc_ranges[mid][0])
            hi = mid;
        else if (c > misc_ranges[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}
