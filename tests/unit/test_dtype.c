/* Half-precision conversions: every f16 and bf16 value round-trips, and
 * float32 → half rounds to nearest even like numpy/torch. */
#include "tk_dtype.h"
#include "tkt.h"

#include <stdint.h>

static uint32_t bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static float from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static void test_f16_roundtrips_every_value(void)
{
	for (uint32_t h = 0; h < 65536; h++) {
		float f = tk_f16_to_f32((uint16_t)h);
		if (f != f) {
			TKT_CHECK((tk_f32_to_f16(f) & 0x7c00) == 0x7c00 && (tk_f32_to_f16(f) & 0x3ff), "NaN %04x", h);
			continue;
		}
		TKT_CHECK(tk_f32_to_f16(f) == h, "%04x -> %g -> %04x", h, f, tk_f32_to_f16(f));
	}
}

static void test_f16_known_values(void)
{
	TKT_CHECK(tk_f16_to_f32(0x3c00) == 1.0f, "1.0");
	TKT_CHECK(tk_f16_to_f32(0xc000) == -2.0f, "-2.0");
	TKT_CHECK(tk_f16_to_f32(0x7bff) == 65504.0f, "max");
	TKT_CHECK(tk_f16_to_f32(0x0001) == 5.9604644775390625e-8f, "smallest subnormal");
	TKT_CHECK(tk_f32_to_f16(65520.0f) == 0x7c00, "65520 overflows to inf");
	TKT_CHECK(tk_f32_to_f16(65519.0f) == 0x7bff, "65519 rounds to max");
	/* halfway between 1 and the next f16 (1 + 2^-10): ties to even = 1 */
	TKT_CHECK(tk_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00, "tie to even down");
	TKT_CHECK(tk_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02, "tie to even up");
	TKT_CHECK(tk_f32_to_f16(0x1p-25f) == 0x0000, "half the smallest subnormal rounds to even (0)");
	TKT_CHECK(tk_f32_to_f16(0x1p-25f * 3) == 0x0002, "1.5 subnormal ulps round to 2");
}

static void test_f16_rounding_matches_double_reference(void)
{
	/* For random floats in the normal f16 range, the chosen f16 is the
	 * nearest, ties to even. */
	for (int i = 0; i < 200000; i++) {
		float f = (float)((tkt_uniform() * 2 - 1) * 60000.0);
		uint16_t h = tk_f32_to_f16(f);
		double got = tk_f16_to_f32(h);
		double up = tk_f16_to_f32((uint16_t)(h + 1)), down = tk_f16_to_f32((uint16_t)(h - 1));
		double err = fabs(got - f);
		TKT_CHECK(err <= fabs(up - f) && err <= fabs(down - f), "%g -> %g", f, got);
	}
}

static void test_bf16_roundtrips_and_rounds(void)
{
	for (uint32_t b = 0; b < 65536; b++) {
		float f = tk_bf16_to_f32((uint16_t)b);
		if (f != f)
			continue;
		TKT_CHECK(tk_f32_to_bf16(f) == b, "%04x", b);
	}
	TKT_CHECK(tk_f32_to_bf16(from_bits(0x3f808000)) == 0x3f80, "tie to even down");
	TKT_CHECK(tk_f32_to_bf16(from_bits(0x3f818000)) == 0x3f82, "tie to even up");
	TKT_CHECK(tk_f32_to_bf16(from_bits(0x3f808001)) == 0x3f81, "above half rounds up");
	uint16_t nan = tk_f32_to_bf16(from_bits(0x7f800001));
	TKT_CHECK((nan & 0x7f80) == 0x7f80 && (nan & 0x7f), "NaN stays NaN: %04x", nan);
	(void)bits;
}

static void test_array_conversions(void)
{
	float src[5] = {0.5f, -1.25f, 3.0f, 1e-3f, 100.0f}, back[5];
	uint16_t half[5];
	tk_dtype_from_f32(TK_F16, src, half, 5);
	tk_dtype_to_f32(TK_F16, half, back, 5);
	TKT_CHECK_CLOSE(back, src, 5, 1e-3);
	tk_dtype_from_f32(TK_BF16, src, half, 5);
	tk_dtype_to_f32(TK_BF16, half, back, 5);
	TKT_CHECK_CLOSE(back, src, 5, 0.5);
	TKT_CHECK(tk_dtype_size(TK_BF16) == 2 && tk_dtype_size(TK_I32) == 4 && tk_dtype_size(99) == 0, "sizes");
	TKT_CHECK(tk_dtype_from_name("bf16") == TK_BF16 && tk_dtype_from_name("q4") == -1, "names");
}

int main(void)
{
	TKT_RUN(test_f16_roundtrips_every_value);
	TKT_RUN(test_f16_known_values);
	TKT_RUN(test_f16_rounding_matches_double_reference);
	TKT_RUN(test_bf16_roundtrips_and_rounds);
	TKT_RUN(test_array_conversions);
	return tkt_done();
}
