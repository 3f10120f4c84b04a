/*
 * fuzz_config.c - libFuzzer target: arbitrary bytes into config_parse, and
 * the position scanner run over every input jansson accepts (the error
 * path looks keys up in text that is valid JSON, but the scanner must not
 * misbehave on anything).  A parsed config is also searched and freed.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "jsonpos.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct jsonpos_step path[] = {
	    {"dependencies", 0}, {NULL, 0}, {"breaker", 0}, {"window", 0}};
	struct config cfg;
	char err[512];
	unsigned line, col;

	if (config_parse(
	        (const char *)data, size, "fuzz.json", &cfg, err, sizeof(err))
	    == 0) {
		if (cfg.ndeps > 0)
			(void)config_find_dep(&cfg, cfg.deps[0].name);
		(void)config_policy_name(cfg.unreachable);
	} else if (strncmp(err, "fuzz.json:", 10) != 0)
		__builtin_trap(); /* every error names the file */
	config_free(&cfg);
	for (size_t d = 0; d <= 4; d++)
		(void)jsonpos_find(
		    (const char *)data, size, path, d, 1, &line, &col);
	return 0;
}
