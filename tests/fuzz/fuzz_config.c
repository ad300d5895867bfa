/* config.json: tk_model_config_from_json on arbitrary text, validation of
 * what it accepts, and from_json → to_json → from_json gives an equal
 * config (tk_model_config_equal). */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "tk_error.h"
#include "tk_model.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	tk_model_config c;
	if (tk_model_config_from_json(&c, text, "fuzz config.json") == TK_OK) {
		tk_model_config_validate(&c, "fuzz config.json");
		char *json = tk_model_config_to_json(&c);
		FUZZ_REQUIRE(json != NULL, "to_json failed: %s", tk_error_message());
		tk_model_config back;
		int rc = tk_model_config_from_json(&back, json, "written config.json");
		FUZZ_REQUIRE(rc == TK_OK, "the written config does not read back: %s\n%s",
			     tk_error_message(), json);
		FUZZ_REQUIRE(tk_model_config_equal(&c, &back),
			     "the config read back differs from the one written:\n%s", json);
		free(json);
	}
	free(text);
	tk_error_clear();
	return 0;
}
