/* A backend's scratch memory (backend_ops.h): a stack of takes over one
 * block that grows to the most a call has needed and is then reused, so a
 * kernel called a thousand times a step allocates once, not a thousand
 * times.  Plain host memory: the cpu and ref backends' kernels run on the
 * host; a GPU backend would keep a device arena of its own. */
#include "backend_ops.h"

#include <stdlib.h>

#define ALIGN 64

/* A block of its own for a take that did not fit while the main block was
 * in use; its data starts ALIGN bytes after the header. */
struct tk_workspace_block {
	struct tk_workspace_block *below;
};

static size_t aligned_size(size_t bytes)
{
	return (bytes + ALIGN - 1) / ALIGN * ALIGN;
}

size_t tk_workspace_slice_bytes(size_t bytes)
{
	return aligned_size(bytes ? bytes : 1);
}

/* Replaces the (unused) main block by one of `bytes`; 0 when out of
 * memory, the workspace then empty. */
static int grow(struct tk_workspace *ws, size_t bytes)
{
	free(ws->base);
	ws->base = aligned_alloc(ALIGN, bytes);
	ws->size = ws->base ? bytes : 0;
	return ws->base != NULL;
}

static void note_peak(struct tk_workspace *ws)
{
	size_t live = ws->used + ws->extra_bytes;
	ws->peak = live > ws->peak ? live : ws->peak;
}

tk_workspace_mark tk_workspace_mark_now(tk_backend *be)
{
	const struct tk_workspace *ws = &be->arena;
	return (tk_workspace_mark){ws->used, ws->extra, ws->extra_bytes};
}

void *tk_workspace_take(tk_backend *be, size_t bytes)
{
	struct tk_workspace *ws = &be->arena;
	size_t need = tk_workspace_slice_bytes(bytes);
	int idle = ws->used == 0 && !ws->extra;
	if (idle && need > ws->size && !grow(ws, need))
		return NULL;
	if (need <= ws->size - ws->used) {
		void *p = ws->base + ws->used;
		ws->used += need;
		note_peak(ws);
		return p;
	}
	struct tk_workspace_block *b = aligned_alloc(ALIGN, ALIGN + need);
	if (!b)
		return NULL;
	b->below = ws->extra;
	ws->extra = b;
	ws->extra_bytes += need;
	note_peak(ws);
	return (unsigned char *)b + ALIGN;
}

void *tk_workspace_slices(tk_backend *be, size_t count, size_t bytes)
{
	return tk_workspace_take(be, (count ? count : 1) * tk_workspace_slice_bytes(bytes));
}

void tk_workspace_release(tk_backend *be, tk_workspace_mark mark)
{
	struct tk_workspace *ws = &be->arena;
	while (ws->extra != mark.extra) {
		struct tk_workspace_block *b = ws->extra;
		ws->extra = b->below;
		free(b);
	}
	ws->extra_bytes = mark.extra_bytes;
	ws->used = mark.used;
	if (ws->used || ws->extra)
		return;
	/* All released: make the main block hold what the call needed at
	 * once, so that the next call of the same shapes takes nothing more. */
	if (ws->peak > ws->size)
		grow(ws, ws->peak);
	ws->peak = 0;
}

void tk_workspace_free(tk_backend *be)
{
	be->arena.peak = 0; // nothing to grow for
	tk_workspace_release(be, (tk_workspace_mark){0, NULL, 0});
	free(be->arena.base);
	be->arena = (struct tk_workspace){0};
}
