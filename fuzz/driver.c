/* driver: replays fuzz inputs without libFuzzer. Each fuzz/fuzz_<name>.c is
 * also linked with this file into fuzz_replay_<name>, which ctest runs over
 * the target's seed corpus and regression inputs in every build (plain,
 * ASan+UBSan, Valgrind): an input that once crashed stays a test. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    size_t cap = 4096, len = 0, n;
    uint8_t *buf = malloc(cap);
    while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len < cap)
            continue;
        uint8_t *grown = realloc(buf, cap * 2);
        if (grown == NULL)
            free(buf);
        buf = grown;
        cap *= 2;
    }
    fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "%s: out of memory\n", path);
        return 1;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of a directory, in name order (runs are repeatable). */
static int replay_dir(const char *dir, unsigned *count)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0; /* a target may have no regression inputs yet */
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
            if (grown == NULL) {
                rc = 1;
                break;
            }
            names = grown;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, compare_names);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            rc = replay_file(path);
            (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    unsigned count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int rc;
        if (stat(argv[i], &st) != 0) {
            if (errno != ENOENT) {
                perror(argv[i]);
                return 1;
            }
            printf("%s: none\n", argv[i]); /* no crash input kept yet: git keeps no empty dir */
            continue;
        }
        if (S_ISDIR(st.st_mode))
            rc = replay_dir(argv[i], &count);
        else {
            rc = replay_file(argv[i]);
            count++;
        }
        if (rc != 0)
            return rc;
    }
    printf("replayed %u inputs\n", count);
    return 0;
}
