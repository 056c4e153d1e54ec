/*
 * od_spec_images.c - writes the sample images tests/files was made from
 * (v1.bin, v2.bin, empty.bin) into a directory, so that the spec reader
 * (od_spec_read.py) can be given the same source images test_files.c uses.
 * The images are not committed; od_sample_images.h rebuilds them.
 */
#include <stdio.h>
#include <stdlib.h>

#include "od_sample_images.h"

int main(int argc, char **argv)
{
    static const struct {
        int id;
        const char *name;
    } imgs[] = {{OD_SAMPLE_EMPTY, "empty.bin"}, {OD_SAMPLE_V1, "v1.bin"}, {OD_SAMPLE_V2, "v2.bin"}};
    char path[4096];
    size_t i;

    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    for (i = 0; i < sizeof(imgs) / sizeof(imgs[0]); i++) {
        size_t size = 0;
        uint8_t *img = od_sample_image(imgs[i].id, &size);
        FILE *f;
        int ok;
        if (!img) {
            fprintf(stderr, "cannot build sample image %s\n", imgs[i].name);
            return 1;
        }
        snprintf(path, sizeof(path), "%s/%s", argv[1], imgs[i].name);
        f = fopen(path, "wb");
        ok = f && fwrite(img, 1, size, f) == size;
        if (f && fclose(f) != 0)
            ok = 0;
        free(img);
        if (!ok) {
            perror(path);
            return 1;
        }
    }
    return 0;
}
