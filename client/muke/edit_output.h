// How the muke edit commands show an edit: one JSON object (--json) or a few lines for people, and the exit
// code an edit's state stands for.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "muke/v1/knowledge_editor.pb.h"

namespace muke::client {

// "EDIT_STATE_COMMITTED" -> "COMMITTED".
std::string StateName(muke::v1::EditState state);

// id, request_id, state, error, times, the request and the metrics (null until verified).
nlohmann::ordered_json EditJson(const muke::v1::Edit& edit);

// `<id> <STATE>` then the prompt, target, error and metrics lines that apply.
void PrintEdit(const muke::v1::Edit& edit);

// kExitEditNotCommitted for an edit that ended FAILED or CANCELLED, else kExitOk.
int EditExitCode(const muke::v1::Edit& edit);

}  // namespace muke::client
