/* fuzz_vqa.c — the VQA loaders and accuracy. The first input byte picks which of the three files
 * (questions, annotations, results) is the fuzzed one; the other two are small valid files. */
#include "eval/eval.h"
#include "tests/fuzz/fuzz_util.h"

static const char QS[] = "{\"questions\":[{\"question_id\":1,\"image_id\":9,\"question\":\"What?\"},"
                         "{\"question_id\":2,\"image_id\":9,\"question\":\"How many?\"}]}";
static const char ANNS[] =
    "{\"annotations\":[{\"question_id\":1,\"question_type\":\"what\",\"answer_type\":\"other\",\"answers\":["
    "{\"answer\":\"a dog\"},{\"answer\":\"dog\"},{\"answer\":\"Dog.\"},{\"answer\":\"dog\"}]},"
    "{\"question_id\":2,\"question_type\":\"how many\",\"answer_type\":\"number\",\"answers\":["
    "{\"answer\":\"two\"},{\"answer\":\"2\"},{\"answer\":\"2\"}]}]}";
static const char RES[] = "[{\"question_id\":1,\"answer\":\"the dog\"},{\"question_id\":2,\"answer\":\"two\"}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int which = data[0] % 3;
    const char *q = which == 0 ? fuzz_file(0, data + 1, size - 1) : fuzz_file(0, (const uint8_t *)QS, sizeof QS - 1);
    const char *a = which == 1 ? fuzz_file(1, data + 1, size - 1) : fuzz_file(1, (const uint8_t *)ANNS, sizeof ANNS - 1);
    const char *r = which == 2 ? fuzz_file(2, data + 1, size - 1) : fuzz_file(2, (const uint8_t *)RES, sizeof RES - 1);
    vqa_set v;
    if (vqa_set_load(&v, q, a, r) != 0) return 0;
    vqa_result res;
    if (vqa_evaluate(&v, &res) == 0) vqa_result_free(&res);
    vqa_set_free(&v);
    return 0;
}
