#include "client/muke/edit_output.h"

#include <iostream>
#include <string>
#include <vector>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "client/muke/commands.h"

namespace muke::client {
namespace {

using google::protobuf::util::TimeUtil;

nlohmann::ordered_json MetricsJson(const muke::v1::EditMetrics& m) {
  nlohmann::ordered_json stages = nlohmann::ordered_json::object();
  for (const auto& [stage, seconds] : m.stage_seconds()) stages[stage] = seconds;
  return {{"char_bleu", m.char_bleu()},
          {"paraphrase_char_bleu", std::vector<double>(m.paraphrase_char_bleu().begin(), m.paraphrase_char_bleu().end())},
          {"nll_before", m.nll_before()},
          {"nll_hooked", m.nll_hooked()},
          {"nll_after", m.nll_after()},
          {"windows", m.windows()},
          {"steps", m.steps()},
          {"stage_seconds", stages},
          {"prediction", m.prediction()},
          {"paraphrase_predictions",
           std::vector<std::string>(m.paraphrase_predictions().begin(), m.paraphrase_predictions().end())}};
}

double TotalSeconds(const muke::v1::EditMetrics& m) {
  double total = 0;
  for (const auto& [stage, seconds] : m.stage_seconds()) total += seconds;
  return total;
}

}  // namespace

std::string StateName(muke::v1::EditState state) {
  return std::string(absl::StripPrefix(muke::v1::EditState_Name(state), "EDIT_STATE_"));
}

nlohmann::ordered_json EditJson(const muke::v1::Edit& edit) {
  const muke::v1::EditKnowledgeRequest& r = edit.request();
  return {{"id", edit.id()},
          {"request_id", edit.request_id()},
          {"state", StateName(edit.state())},
          {"error", edit.error()},
          {"create_time", TimeUtil::ToString(edit.create_time())},
          {"update_time", TimeUtil::ToString(edit.update_time())},
          {"prompt", r.prompt()},
          {"target", r.target()},
          {"paraphrases", std::vector<std::string>(r.paraphrases().begin(), r.paraphrases().end())},
          {"strategy", r.strategy()},
          {"update", r.update()},
          {"metrics", edit.has_metrics() ? MetricsJson(edit.metrics()) : nlohmann::ordered_json(nullptr)}};
}

void PrintEdit(const muke::v1::Edit& edit) {
  std::cout << "edit " << edit.id() << " " << StateName(edit.state()) << "\n";
  std::cout << "  prompt: " << edit.request().prompt() << "\n  target: " << edit.request().target() << "\n";
  if (!edit.request_id().empty()) std::cout << "  request id: " << edit.request_id() << "\n";
  if (!edit.error().empty()) std::cout << "  error: " << edit.error() << "\n";
  if (edit.has_metrics()) {
    const muke::v1::EditMetrics& m = edit.metrics();
    std::vector<std::string> paraphrases;
    for (double bleu : m.paraphrase_char_bleu()) paraphrases.push_back(absl::StrFormat("%.3f", bleu));
    std::cout << absl::StrFormat("  char-BLEU %.3f%s · NLL %.3f → %.3f → %.3f · %d windows, %d steps · %.2f s\n",
                                 m.char_bleu(),
                                 paraphrases.empty() ? "" : " (paraphrases " + absl::StrJoin(paraphrases, ", ") + ")",
                                 m.nll_before(), m.nll_hooked(), m.nll_after(), m.windows(), m.steps(),
                                 TotalSeconds(m));
    std::cout << "  answer: " << m.prediction() << "\n";
  }
  std::cout << std::flush;
}

int EditExitCode(const muke::v1::Edit& edit) {
  return edit.state() == muke::v1::EDIT_STATE_FAILED || edit.state() == muke::v1::EDIT_STATE_CANCELLED
             ? kExitEditNotCommitted
             : kExitOk;
}

}  // namespace muke::client
