/* libFuzzer target: the YAML config loader (libyaml events -> node tree ->
 * ${VAR} -> decoder -> model), see fuzz_config.h. */
#include "fuzz_config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_config_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_config_run(data, size, "fuzz.yaml", cfg_parse_yaml);
    return 0;
}
