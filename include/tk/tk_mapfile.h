/* A whole file mapped into memory, so that readers of large model files
 * (safetensors, GGUF) can hand out pointers into it instead of copying. */
#ifndef TK_MAPFILE_H
#define TK_MAPFILE_H

#include <stddef.h>

typedef struct tk_mapfile {
	char *path;
	unsigned char *data;  /* (size) NULL when the file is empty */
	size_t size;
} tk_mapfile;

/* Maps PATH privately (copy-on-write): a caller may write into the mapping
 * (e.g. a weight updated in place) without ever changing the file. */
int tk_mapfile_open(tk_mapfile **out, const char *path);
void tk_mapfile_close(tk_mapfile *m);  /* safe on NULL */

#endif
