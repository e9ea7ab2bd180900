/* image_list.h — expand command-line arguments into image files: a file stays as it is, a folder
 * becomes its image files (by extension: jpg jpeg png bmp gif, any case; not recursive), sorted
 * by name so runs are reproducible. */
#ifndef VLKIT_DATA_IMAGE_LIST_H
#define VLKIT_DATA_IMAGE_LIST_H

typedef struct {
    char **paths; /* malloc'd strings */
    int n;
} image_list;

/* Returns 0, or -1 with vk_err naming an argument that is neither a file nor a readable folder. */
int image_list_expand(const char *const *args, int nargs, image_list *out);
void image_list_free(image_list *l);
/* 1 if the name ends in a known image extension. */
int image_list_has_image_ext(const char *name);

#endif
