/* The bf16 products (xwt_bf16.c) on AMX tiles: Intel's Advanced Matrix
 * Extensions multiply a 16 × 32 bf16 tile by a 32 × 16 one into 16 × 16
 * float32 sums in one instruction (tdpbf16ps), about sixteen times the
 * multiply-adds of an AVX-512 float32 FMA a cycle (measured here: 3.4
 * TFLOP/s on one core against some 150 GFLOP/s for the FMA product).
 *
 * The operands are xwt_bf16.c's own layouts, read in place: x's rows in
 * pairs of k (a tile: 16 rows × 16 pairs, rows xs pairs apart) and W's
 * panels, pair q holding NR lanes of two k each (a tile: 16 pairs × 16
 * lanes, rows NR lanes apart).  Each element of y is one chain over k in
 * tiles of 16 pairs from zero, in order; inside a tile the hardware adds
 * the 32 products in its own order and rounding (not vdpbf16ps's pair by
 * pair: measured, about 60% of elements differ from it in the last bits),
 * so the bits differ from the portable code's, but they are the same for
 * a row whatever the other rows, the threads or the batch: a tile
 * computes each element from its own row and column alone, and k is cut
 * into tiles the same way for every call. */
#include "xwt_tile.h"

#include <cpuid.h>
#include <immintrin.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define AMX_PAIRS 16 // k pairs a tile holds (64 bytes a row)
#define AMX_ROWS 16  // rows of a tile
#define AMX_BLOCK 32 // rows of y a pass covers: two A tiles against three B tiles

/* Linux lends the tiles' 8 KiB of state to a process that asks. */
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int amx_state = -1; // -1 not asked yet, 0 no, 1 yes

static int cpu_has_amx_bf16(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return (d >> 22 & 1u) && (d >> 24 & 1u); // AMX-BF16, AMX-TILE
}

/* TK_AMX=0 in the environment turns the tiles off (the AVX-512 BF16 or
 * portable code then runs), to compare or to work around a kernel that
 * refuses them. */
int tk_cpu_amx_ready(void)
{
	int state = __atomic_load_n(&amx_state, __ATOMIC_ACQUIRE);
	if (state >= 0)
		return state;
	const char *env = getenv("TK_AMX");
	int ok = !(env && !strcmp(env, "0")) && cpu_has_amx_bf16();
#if defined(__linux__) && defined(SYS_arch_prctl)
	ok = ok && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
	ok = 0;
#endif
	__atomic_store_n(&amx_state, ok, __ATOMIC_RELEASE);
	return ok;
}

/* Palette 1, the eight tiles all 16 rows × 64 bytes (AMX_PAIRS pairs): 0-5 the sums (two
 * blocks of rows × three of columns), 6 x's tile, 7 W's. */
struct tile_config {
	uint8_t palette, start_row, reserved[14];
	uint16_t colsb[16];
	uint8_t rows[16];
};

/* Static: the compiler does not see tileloadconfig read its operand, and
 * dropped the stores of a local one. */
static const struct tile_config config = {
	.palette = 1,
	.colsb = {64, 64, 64, 64, 64, 64, 64, 64},
	.rows = {AMX_ROWS, AMX_ROWS, AMX_ROWS, AMX_ROWS, AMX_ROWS, AMX_ROWS, AMX_ROWS, AMX_ROWS},
};

__attribute__((target("amx-tile"))) void tk_cpu_amx_begin(void)
{
	_tile_loadconfig(&config);
}

__attribute__((target("amx-tile"))) void tk_cpu_amx_end(void)
{
	_tile_release();
}

/* sums (AMX_BLOCK, NR) added to or stored in y's first rows × cols. */
static void put_sums(const float *sums, size_t rows, size_t cols, float *y, size_t ldy,
		     int accumulate)
{
	for (size_t r = 0; r < rows; r++)
		for (size_t c = 0; c < cols; c++) {
			float *out = y + r * ldy + c;
			*out = accumulate ? *out + sums[r * NR + c] : sums[r * NR + c];
		}
}

/* One k tile of W: its 16 pairs in place, or the last qn < 16 copied into
 * a zeroed tile (x's pairs past k are zero, W's must not be NaN). */
static const uint32_t *w_tile(const uint32_t *b, size_t q, size_t qn, uint32_t *tail)
{
	if (q + AMX_PAIRS <= qn)
		return b + q * NR;
	memset(tail, 0, AMX_PAIRS * NR * sizeof *tail);
	memcpy(tail, b + q * NR, (qn - q) * NR * sizeof *tail);
	return tail;
}

/* Macros, not loops: a tile's number is part of the instruction. */
#define DOT(c, u, v)                                                                    \
	do {                                                                            \
		_tile_loadd(6, xr + (u) * AMX_ROWS * xs + q, (long)(xs * 4));           \
		_tile_dpbf16ps(c, 6, 7);                                                \
	} while (0)
#define COLUMN(v, c0, c1)                                                               \
	do {                                                                            \
		_tile_loadd(7, wt + (v) * 16, (long)(NR * 4));                          \
		DOT(c0, 0, v);                                                          \
		if (two)                                                                \
			DOT(c1, 1, v);                                                  \
	} while (0)

/* y (rows ≤ AMX_BLOCK, ldy) (+)= the chains of pairs 0..qn of xr's rows
 * (xs apart, zero from qn to the next multiple of 16) over panel rows b. */
__attribute__((target("amx-tile,amx-bf16"))) static void
block(size_t rows, const uint32_t *xr, size_t xs, const uint32_t *b, size_t qn, size_t cols,
      float *y, size_t ldy, int accumulate)
{
	float sums[AMX_BLOCK * NR] __attribute__((aligned(64)));
	uint32_t tail[AMX_PAIRS * NR] __attribute__((aligned(64)));
	int two = rows > AMX_ROWS;
	_tile_zero(0);
	_tile_zero(1);
	_tile_zero(2);
	_tile_zero(3);
	_tile_zero(4);
	_tile_zero(5);
	for (size_t q = 0; q < qn; q += AMX_PAIRS) {
		const uint32_t *wt = w_tile(b, q, qn, tail);
		COLUMN(0, 0, 3);
		COLUMN(1, 1, 4);
		COLUMN(2, 2, 5);
	}
	// a whole block assigned goes straight to y; the rest through sums
	int direct = !accumulate && rows == AMX_BLOCK && cols == NR;
	float *to = direct ? y : sums;
	long ld = direct ? (long)(ldy * 4) : NR * 4;
	size_t second = direct ? AMX_ROWS * ldy : AMX_ROWS * NR;
	_tile_stored(0, to, ld);
	_tile_stored(1, to + 16, ld);
	_tile_stored(2, to + 32, ld);
	if (two) {
		_tile_stored(3, to + second, ld);
		_tile_stored(4, to + second + 16, ld);
		_tile_stored(5, to + second + 32, ld);
	}
	if (!direct)
		put_sums(sums, rows, cols, y, ldy, accumulate);
}

/* xwt_bf16.c's tile: rows of y from xp's (xs pairs apart, readable and
 * zero up to a multiple of 16 rows and 16 pairs) over qn panel rows b;
 * between tk_cpu_amx_begin and tk_cpu_amx_end on this thread. */
void tk_cpu_amx_tile(size_t rows, const uint32_t *xp, size_t xs, const uint32_t *b, size_t qn,
		     size_t cols, float *y, size_t ldy, int accumulate)
{
	for (size_t i = 0; i < rows; i += AMX_BLOCK) {
		size_t r = rows - i < AMX_BLOCK ? rows - i : AMX_BLOCK;
		block(r, xp + i * xs, xs, b, qn, cols, y + i * ldy, ldy, accumulate);
	}
}
