/* State checkpoints in a run folder, written and resumed the same way by
 * every trainer (tk_run.h). */
#include "tk_run.h"

#include "tk_dist.h"
#include "tk_error.h"
#include "tk_train.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>

int tk_run_save_state(const char *dir, const tk_train *t, const char *meta_json,
		      const char *record_extra, char *path, size_t cap)
{
	char name[64], line[1024];
	int64_t step = tk_train_steps(t);
	snprintf(name, sizeof name, "step-%06" PRId64 ".tkc", step);
	if ((size_t)snprintf(path, cap, "%s/%s", dir, name) >= cap)
		return tk_fail(TK_EUSAGE, "run folder name too long: %s", dir);
	if (!tk_dist_is_root()) // the ranks hold the same state: rank 0 writes it
		return TK_OK;
	int rc = tk_train_save_state(t, path, meta_json);
	if (rc)
		return rc;
	int len = snprintf(line, sizeof line, "{\"step\": %" PRId64 ", \"path\": \"%s\"%s%s}\n",
			   step, name, record_extra ? ", " : "", record_extra ? record_extra : "");
	if (len < 0 || (size_t)len >= sizeof line)
		return tk_fail(TK_EUSAGE, "checkpoint record too long");
	return tk_run_append(dir, "checkpoints.jsonl", line);
}

int tk_run_resume_state(const char *dir, tk_train *t, char *path, size_t cap, size_t *cut,
			cJSON **record)
{
	char name[1024];
	int64_t step;
	cJSON *last = NULL;
	*cut = 0;
	/* rank 0 alone repairs and trims the folder; the others read it after */
	int rc = tk_dist_is_root() ? tk_run_repair_checkpoints(dir, cut) : TK_OK;
	if (!rc)
		rc = tk_dist_barrier();
	if (!rc)
		rc = tk_run_last_checkpoint(dir, name, sizeof name, &step, &last);
	if (!rc && (size_t)snprintf(path, cap, "%s/%s", dir, name) >= cap)
		rc = tk_fail(TK_EUSAGE, "run folder name too long: %s", dir);
	if (!rc)
		rc = tk_train_load_state(t, path, NULL);
	if (!rc && tk_train_steps(t) != step)
		rc = tk_fail(TK_EDATA, "%s: holds step %" PRId64 ", checkpoints.jsonl says %" PRId64,
			     path, tk_train_steps(t), step);
	if (!rc && tk_dist_is_root())
		rc = tk_run_trim_metrics(dir, step);
	if (!rc && record)
		*record = last;
	else
		cJSON_Delete(last);
	return rc;
}
