// muke info: GetModelInfo, printed as `key: value` lines or (--json) one JSON object.
#include <iostream>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/muke/commands.h"
#include "client/muke/json_output.h"
#include "muke/v1/knowledge_editor.grpc.pb.h"

namespace muke::client {

int RunInfo(const Args& args, const Connection& connection) {
  auto stub = muke::v1::KnowledgeEditor::NewStub(connection.channel());
  grpc::ClientContext context;
  connection.Prepare(&context);
  muke::v1::ModelInfo info;
  const grpc::Status status = stub->GetModelInfo(&context, muke::v1::GetModelInfoRequest(), &info);
  if (!status.ok()) return connection.Fail("info", status);

  nlohmann::ordered_json j = {
      {"model_dir", info.model_dir()},
      {"model_type", info.model_type()},
      {"num_hidden_layers", info.num_hidden_layers()},
      {"hidden_size", info.hidden_size()},
      {"intermediate_size", info.intermediate_size()},
      {"num_attention_heads", info.num_attention_heads()},
      {"num_key_value_heads", info.num_key_value_heads()},
      {"head_dim", info.head_dim()},
      {"vocab_size", info.vocab_size()},
      {"max_position_embeddings", info.max_position_embeddings()},
      {"dtype", info.dtype()},
      {"device", info.device()},
      {"parameter_count", info.parameter_count()},
      {"bos_token_id", info.has_bos_token_id() ? nlohmann::ordered_json(info.bos_token_id()) : nullptr},
      {"eos_token_ids", std::vector<int64_t>(info.eos_token_ids().begin(), info.eos_token_ids().end())},
  };
  if (args.Has("json")) {
    PrintJsonLine(j);
  } else {
    for (const auto& [key, value] : j.items()) {
      std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
    }
  }
  return kExitOk;
}

}  // namespace muke::client
