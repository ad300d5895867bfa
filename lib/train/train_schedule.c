/* Learning-rate schedules and the LoRA learning-rate size rule. */
#include "tk_train.h"

#include <math.h>
#include <string.h>

static const char *const names[] = {"constant", "linear", "cosine"};

int tk_lr_schedule_parse(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

const char *tk_lr_schedule_name(int schedule)
{
	return schedule >= 0 && schedule < 3 ? names[schedule] : "unknown";
}

double tk_lr_at(int schedule, double lr, int64_t step, int64_t warmup, int64_t total)
{
	if (step < warmup) // linear warmup from lr / warmup to lr
		return lr * (double)(step + 1) / (double)warmup;
	if (schedule == TK_LR_CONSTANT || total <= warmup)
		return lr;
	double progress = (double)(step - warmup) / (double)(total - warmup);
	if (progress > 1)
		progress = 1;
	if (schedule == TK_LR_LINEAR)
		return lr * (1 - progress);
	return lr * 0.5 * (1 + cos(M_PI * progress));
}

double tk_lr_for_lora(const char *architecture, int hidden, double *p_out)
{
	// Qwen-family models keep a nearly size-independent rate
	double p = strncmp(architecture, "qwen", 4) == 0 ? 0.0775 : 0.781;
	if (p_out)
		*p_out = p;
	return 5e-4 * pow(2000.0 / hidden, p);
}
