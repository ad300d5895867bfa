#include "tk_mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tk_error.h"

int tk_mapfile_open(tk_mapfile **out, const char *path)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tk_fail(TK_ENOINPUT, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return tk_fail(TK_ENOINPUT, "%s: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return tk_fail(TK_ENOINPUT, "%s: %s", path,
			       S_ISDIR(st.st_mode) ? "is a folder" : "not a regular file");
	}
	tk_mapfile *m = tk_calloc(1, sizeof *m);
	char *copy = tk_strdup(path);
	if (!m || !copy) {
		free(m);
		free(copy);
		close(fd);
		return TK_EOSERR;
	}
	m->path = copy;
	m->size = (size_t)st.st_size;
	if (m->size > 0) {
		void *p = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			int e = errno;
			close(fd);
			tk_mapfile_close(m);
			return tk_fail(TK_EIO, "%s: cannot map: %s", path, strerror(e));
		}
		m->data = p;
	}
	close(fd);
	*out = m;
	return TK_OK;
}

void tk_mapfile_close(tk_mapfile *m)
{
	if (!m)
		return;
	if (m->data)
		munmap(m->data, m->size);
	free(m->path);
	free(m);
}
