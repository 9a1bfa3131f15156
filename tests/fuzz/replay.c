/* replay.c: run a libFuzzer harness over files, without libFuzzer, so that every normal
 * test run replays the corpus. Arguments are files or directories (every regular file
 * in a directory, in name order). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read the whole file; caller frees. NULL on failure (reported). */
static uint8_t *
replay_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL, *p;
	size_t cap = 0, n = 0, r;

	if (!f) {
		perror(path);
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			p = realloc(data, cap);
			if (!p)
				goto fail;
			data = p;
		}
		r = fread(data + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f))
		goto fail;
	fclose(f);
	*len = n;
	return data;
fail:
	perror(path);
	free(data);
	fclose(f);
	return NULL;
}

/* Replay one file: 1 if replayed, 0 if it could not be read. */
static int
replay_file(const char *path)
{
	uint8_t *data;
	size_t len;

	data = replay_read(path, &len);
	if (!data)
		return 0;
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 1;
}

static int
replay_is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Replay every regular file in dir; the number replayed. */
static int
replay_dir(const char *dir)
{
	struct dirent **names;
	char path[4096];
	int n, i, count = 0;

	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		perror(dir);
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name) <
		    (int)sizeof path && replay_is_file(path))
			count += replay_file(path);
		free(names[i]);
	}
	free(names);
	return count;
}

int
main(int argc, char **argv)
{
	struct stat st;
	int i, count = 0;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			continue;
		}
		if (S_ISDIR(st.st_mode))
			count += replay_dir(argv[i]);
		else
			count += replay_file(argv[i]);
	}
	printf("%d inputs replayed\n", count);
	return count > 0 ? 0 : 1;
}
