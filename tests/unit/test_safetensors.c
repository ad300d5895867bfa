/* safetensors reader: the tiny-llama fixture against the values the
 * safetensors library read (expected.json), sharded folders, F16/BF16, and
 * hostile files (truncations, a header length past the end, bad entries). */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_safetensors.h"
#include "tkt.h"

#define TINY "tests/fixtures/tiny-llama/model.safetensors"

static unsigned char *slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf)
		buf[n] = 0;
	*size = (size_t)n;
	return buf;
}

static void spit(const char *path, const void *data, size_t n)
{
	/* a new file each time: truncating one makes ext4 flush it at close */
	unlink(path);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(data, 1, n, f);
		fclose(f);
	}
}

static void tmp_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tkt_tmpdir(), name);
}

/* A safetensors file from a header text and data bytes. */
static void write_st(const char *path, const char *header, const void *data, size_t n)
{
	size_t h = strlen(header);
	unsigned char *buf = malloc(8 + h + n + 1);
	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)((uint64_t)h >> (8 * i));
	memcpy(buf + 8, header, h);
	if (n)
		memcpy(buf + 8 + h, data, n);
	spit(path, buf, 8 + h + n);
	free(buf);
}

static float value_at(const tk_st_tensor *t, size_t i)
{
	float v;
	memcpy(&v, (const unsigned char *)t->data + 4 * i, 4);
	return v;
}

static void check_expected(const tk_safetensors *st, const char *expected_path)
{
	size_t n;
	char *text = (char *)slurp(expected_path, &n);
	TKT_CHECK(text != NULL, "%s", expected_path);
	cJSON *root = cJSON_Parse(text);
	free(text);
	const cJSON *tensors = cJSON_GetObjectItem(root, "tensors");
	int count = cJSON_GetObjectItem(root, "tensor_count")->valueint;
	TKT_CHECK(st->count == (size_t)count, "%zu tensors, want %d", st->count, count);
	for (const cJSON *e = tensors->child; e; e = e->next) {
		const tk_st_tensor *t = tk_safetensors_find(st, e->string);
		TKT_CHECK(t != NULL, "%s missing", e->string);
		if (!t)
			continue;
		TKT_CHECK(t->dtype == TK_F32, "%s dtype %d", e->string, t->dtype);
		const cJSON *shape = cJSON_GetObjectItem(e, "shape");
		TKT_CHECK(t->ndim == cJSON_GetArraySize(shape), "%s ndim", e->string);
		for (int d = 0; d < t->ndim; d++)
			TKT_CHECK(t->shape[d] == cJSON_GetArrayItem(shape, d)->valueint,
				  "%s shape[%d]", e->string, d);
		const cJSON *idx = cJSON_GetObjectItem(e, "index");
		const cJSON *val = cJSON_GetObjectItem(e, "value");
		for (int i = 0; i < cJSON_GetArraySize(idx); i++) {
			size_t at = (size_t)cJSON_GetArrayItem(idx, i)->valuedouble;
			float want = (float)cJSON_GetArrayItem(val, i)->valuedouble;
			TKT_CHECK(value_at(t, at) == want, "%s[%zu] = %.9g, want %.9g", e->string,
				  at, value_at(t, at), want);
		}
		double sum = 0;
		for (size_t i = 0; i < t->numel; i++)
			sum += value_at(t, i);
		double want = cJSON_GetObjectItem(e, "sum")->valuedouble;
		TKT_CHECK(fabs(sum - want) < 1e-9 + 1e-12 * fabs(want), "%s sum %.17g want %.17g",
			  e->string, sum, want);
	}
	cJSON_Delete(root);
}

static void test_tiny_llama_values(void)
{
	tk_safetensors *st;
	int rc = tk_safetensors_open(&st, TINY);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	if (rc)
		return;
	check_expected(st, "tests/fixtures/tiny-llama/expected.json");
	TKT_CHECK(st->n_files == 1, "%zu files", st->n_files);
	tk_safetensors_close(st);
	/* a folder finds its model.safetensors */
	rc = tk_safetensors_open(&st, "tests/fixtures/tiny-llama-tied");
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	if (rc)
		return;
	check_expected(st, "tests/fixtures/tiny-llama-tied/expected.json");
	TKT_CHECK(!tk_safetensors_find(st, "lm_head.weight"), "tied model stores no lm_head");
	tk_safetensors_close(st);
}

/* Splits the tiny model into two shards with an index, as HF does. */
static void write_shards(const char *dir)
{
	tk_safetensors *st;
	if (tk_safetensors_open(&st, TINY))
		return;
	char path[1024];
	cJSON *index = cJSON_CreateObject(), *map = cJSON_AddObjectToObject(index, "weight_map");
	for (int shard = 0; shard < 2; shard++) {
		cJSON *h = cJSON_CreateObject();
		size_t off = 0, total = 0;
		for (size_t i = shard; i < st->count; i += 2)
			total += st->tensors[i].nbytes;
		unsigned char *data = malloc(total + 1);
		char name[64];
		snprintf(name, sizeof name, "model-%05d-of-00002.safetensors", shard + 1);
		for (size_t i = shard; i < st->count; i += 2) {
			const tk_st_tensor *t = &st->tensors[i];
			cJSON *e = cJSON_AddObjectToObject(h, t->name);
			cJSON_AddStringToObject(e, "dtype", "F32");
			cJSON *shape = cJSON_AddArrayToObject(e, "shape");
			for (int d = 0; d < t->ndim; d++)
				cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
			cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
			cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
			cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + t->nbytes)));
			memcpy(data + off, t->data, t->nbytes);
			off += t->nbytes;
			cJSON_AddStringToObject(map, t->name, name);
		}
		char *text = cJSON_PrintUnformatted(h);
		snprintf(path, sizeof path, "%s/%s", dir, name);
		write_st(path, text, data, total);
		free(text);
		free(data);
		cJSON_Delete(h);
	}
	char *text = cJSON_Print(index);
	snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
	spit(path, text, strlen(text));
	free(text);
	cJSON_Delete(index);
	tk_safetensors_close(st);
}

static void test_sharded(void)
{
	char dir[512], index[1024];
	tmp_path(dir, sizeof dir, "sharded");
	mkdir(dir, 0755);
	write_shards(dir);
	tk_safetensors *whole, *st;
	TKT_CHECK(tk_safetensors_open(&whole, TINY) == TK_OK, "%s", tk_error_message());
	int rc = tk_safetensors_open(&st, dir);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	if (rc) {
		tk_safetensors_close(whole);
		return;
	}
	TKT_CHECK(st->n_files == 2, "%zu shards", st->n_files);
	TKT_CHECK(st->count == whole->count, "%zu tensors", st->count);
	for (size_t i = 0; i < whole->count; i++) {
		const tk_st_tensor *a = &whole->tensors[i];
		const tk_st_tensor *b = tk_safetensors_find(st, a->name);
		TKT_CHECK(b && b->nbytes == a->nbytes && !memcmp(a->data, b->data, a->nbytes),
			  "%s differs between shards and whole", a->name);
	}
	tk_safetensors_close(st);
	snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
	rc = tk_safetensors_open(&st, index);
	TKT_CHECK(rc == TK_OK && st->n_files == 2, "by index path: %s", tk_error_message());
	if (!rc)
		tk_safetensors_close(st);
	/* an index naming a tensor its shard lacks */
	const char *lacking = "{\"weight_map\": {\"nope\": \"model-00001-of-00002.safetensors\"}}";
	spit(index, lacking, strlen(lacking));
	rc = tk_safetensors_open(&st, dir);
	TKT_CHECK(rc == TK_EDATA && strstr(tk_error_message(), "nope"), "rc %d: %s", rc,
		  tk_error_message());
	const char *outside = "{\"weight_map\": {\"x\": \"../x.safetensors\"}}";
	spit(index, outside, strlen(outside));
	rc = tk_safetensors_open(&st, dir);
	TKT_CHECK(rc == TK_EDATA, "shard outside the folder: rc %d", rc);
	tk_safetensors_close(whole);
}

static void test_half_types(void)
{
	char path[512];
	tmp_path(path, sizeof path, "half.safetensors");
	uint16_t data[6];
	const float want[3] = {1.5f, -2.25f, 0.0078125f};
	for (int i = 0; i < 3; i++) {
		data[i] = tk_f32_to_f16(want[i]);
		data[3 + i] = tk_f32_to_bf16(want[i]);
	}
	/* an odd header length leaves the data unaligned */
	write_st(path, "{\"a\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
		 "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,3],\"data_offsets\":[6,12]},"
		 "\"__metadata__\":{\"format\":\"pt\"}} ", data, sizeof data);
	tk_safetensors *st;
	int rc = tk_safetensors_open(&st, path);
	TKT_CHECK(rc == TK_OK, "%s", tk_error_message());
	if (rc)
		return;
	const tk_st_tensor *a = tk_safetensors_find(st, "a"), *b = tk_safetensors_find(st, "b");
	TKT_CHECK(a && a->dtype == TK_F16 && a->numel == 3, "a");
	TKT_CHECK(b && b->dtype == TK_BF16 && b->ndim == 2 && b->shape[1] == 3, "b");
	for (int i = 0; a && b && i < 3; i++) {
		uint16_t ha, hb;
		memcpy(&ha, (const char *)a->data + 2 * i, 2);
		memcpy(&hb, (const char *)b->data + 2 * i, 2);
		TKT_CHECK(tk_f16_to_f32(ha) == want[i] && tk_bf16_to_f32(hb) == want[i], "[%d]", i);
	}
	tk_safetensors_close(st);
}

static void expect_error(const char *path, const char *needle)
{
	tk_safetensors *st = NULL;
	int rc = tk_safetensors_open(&st, path);
	TKT_CHECK(rc != TK_OK && st == NULL, "%s opened", path);
	TKT_CHECK(strstr(tk_error_message(), path) != NULL, "message does not name the file: %s",
		  tk_error_message());
	if (needle)
		TKT_CHECK(strstr(tk_error_message(), needle) != NULL, "'%s' not in: %s", needle,
			  tk_error_message());
	if (!rc)
		tk_safetensors_close(st);
}

static void test_truncated(void)
{
	size_t size;
	unsigned char *buf = slurp(TINY, &size);
	TKT_CHECK(buf != NULL, "fixture");
	if (!buf)
		return;
	char path[512];
	tmp_path(path, sizeof path, "cut.safetensors");
	uint64_t header = 0;
	for (int i = 7; i >= 0; i--)
		header = header << 8 | buf[i];
	const size_t cuts[] = {0, 3, 7, 8, 9, 100, (size_t)header, (size_t)header + 7,
			       (size_t)header + 8, (size_t)header + 9, size / 2, size - 4, size - 1};
	for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
		spit(path, buf, cuts[i]);
		expect_error(path, NULL);
	}
	free(buf);
}

static void test_header_past_end(void)
{
	size_t size;
	unsigned char *buf = slurp(TINY, &size);
	if (!buf)
		return;
	char path[512];
	tmp_path(path, sizeof path, "long-header.safetensors");
	uint64_t n = (uint64_t)size; /* one past what remains after the length */
	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)(n >> (8 * i));
	spit(path, buf, size);
	expect_error(path, "past the end");
	memset(buf, 0xff, 8);
	spit(path, buf, size);
	expect_error(path, "past the end");
	free(buf);
}

static void test_bad_entries(void)
{
	char path[512];
	tmp_path(path, sizeof path, "bad.safetensors");
	float data[4] = {0};
	static const struct {
		const char *header, *needle;
	} cases[] = {
		{"{\"a\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", "I64"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,16]}}", "'a'"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,32]}}", "outside"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,4]}}", "outside"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", "dimension"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}", "'a'"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", "dimensions"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}", "data_offsets"},
		{"{\"a\":[1,2]}", "not an object"},
		{"[1,2]", "not a JSON object"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}", "JSON"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		write_st(path, cases[i].header, data, sizeof data);
		expect_error(path, cases[i].needle);
	}
	expect_error("tests/fixtures/no-such-file.safetensors", NULL);
}

/* Random damage to the header: an error or a valid parse, never a crash
 * (the ASan build makes the "never" visible). */
static void test_fuzzed_headers(void)
{
	size_t size;
	unsigned char *buf = slurp(TINY, &size);
	if (!buf)
		return;
	char path[512];
	tmp_path(path, sizeof path, "fuzz.safetensors");
	size_t header = 8 + ((size_t)buf[0] | (size_t)buf[1] << 8);
	unsigned char *copy = malloc(size);
	int opened = 0;
	for (int round = 0; round < 300; round++) {
		memcpy(copy, buf, size);
		for (int k = 0; k < 3; k++)
			copy[tkt_rand64() % header] = (unsigned char)"0123456789[]{}\",:-e."[tkt_rand64() % 20];
		spit(path, copy, size);
		tk_safetensors *st;
		if (tk_safetensors_open(&st, path) == TK_OK) {
			opened++;
			tk_safetensors_close(st);
		}
	}
	TKT_CHECK(opened < 300, "every damaged header parsed");
	free(copy);
	free(buf);
}

int main(void)
{
	TKT_RUN(test_tiny_llama_values);
	TKT_RUN(test_sharded);
	TKT_RUN(test_half_types);
	TKT_RUN(test_truncated);
	TKT_RUN(test_header_past_end);
	TKT_RUN(test_bad_entries);
	TKT_RUN(test_fuzzed_headers);
	return tkt_done();
}
