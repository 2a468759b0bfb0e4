#include "server/knowledge_editor_service.h"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/util/log.h"
#include "core/util/status.h"
#include "server/checkpoint_export.h"
#include "server/grpc_status.h"
#include "server/text_delta_stream.h"

namespace muke::server {
namespace {

using google::protobuf::util::TimeUtil;

// How often a WatchEdit call with no news checks whether its client has gone.
constexpr auto kWatchPollInterval = std::chrono::milliseconds(200);

// Of a generation that ran to its end (a cancelled one fails the call instead).
muke::v1::FinishReason ToProto(const std::string& finish_reason) {
  if (finish_reason == "stop") return muke::v1::FINISH_REASON_STOP;
  if (finish_reason == "length") return muke::v1::FINISH_REASON_LENGTH;
  return muke::v1::FINISH_REASON_UNSPECIFIED;
}

void SetTiming(const TimedGeneration& generation, muke::v1::GenerationTiming* timing) {
  *timing->mutable_prefill_duration() = TimeUtil::NanosecondsToDuration(generation.prefill.count());
  *timing->mutable_decode_duration() = TimeUtil::NanosecondsToDuration(generation.decode.count());
}

void LogGeneration(const char* rpc, const GenerationPlan& plan, const TimedGeneration& generation) {
  Log(LogLevel::kInfo, "generate",
      {{"rpc", rpc},
       {"prompt_tokens", std::to_string(plan.prompt_ids.size())},
       {"new_tokens", std::to_string(generation.result.ids.size())},
       {"finish_reason", generation.result.finish_reason},
       {"prefill_seconds", std::to_string(std::chrono::duration<double>(generation.prefill).count())},
       {"decode_seconds", std::to_string(std::chrono::duration<double>(generation.decode).count())}});
}

absl::Status Cancelled(const char* rpc, const TimedGeneration& generation) {
  return absl::CancelledError(absl::StrCat(rpc, ": cancelled after ", generation.result.ids.size(), " tokens"));
}

// Logs a failed call (caller mistakes at info, server faults at error) and converts its status.
grpc::Status Finish(const char* rpc, const absl::Status& status) {
  if (!status.ok()) {
    const bool caller_error = absl::IsInvalidArgument(status) || absl::IsCancelled(status) ||
                              absl::IsFailedPrecondition(status) || absl::IsOutOfRange(status) ||
                              absl::IsNotFound(status) || absl::IsResourceExhausted(status) ||
                              absl::IsUnavailable(status) || absl::IsAlreadyExists(status);
    Log(caller_error ? LogLevel::kInfo : LogLevel::kError, "rpc_failed",
        {{"rpc", rpc}, {"code", absl::StatusCodeToString(status.code())}, {"message", std::string(status.message())}});
  }
  return ToGrpcStatus(status);
}

void CountTokens(const TimedGeneration& generation, GenerateCall* call) {
  call->generated_tokens = static_cast<int64_t>(generation.result.ids.size());
  if (!generation.result.ids.empty()) {
    call->time_to_first_token_seconds = std::chrono::duration<double>(generation.prefill).count();
  }
}

void RecordCall(std::chrono::steady_clock::time_point start, const absl::Status& status, GenerateCall* call,
                ServerMetrics& metrics) {
  call->code = status.code();
  call->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics.GenerateFinished(*call);
}

// Stores a StatusOr's value in *response, or returns its error.
template <typename T>
absl::Status Respond(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return result.status();
  *response = std::move(*result);
  return absl::OkStatus();
}

}  // namespace

KnowledgeEditorService::KnowledgeEditorService(const ServedModel& model, EditRegistry& edits, EditWorker& worker,
                                               ServerMetrics& metrics, GenerationLimits generation_limits,
                                               EditLimits edit_limits, std::string export_dir)
    : model_(model),
      edits_(edits),
      worker_(worker),
      metrics_(metrics),
      limits_(generation_limits),
      edit_limits_(edit_limits),
      export_dir_(std::move(export_dir)) {}

grpc::Status KnowledgeEditorService::GetModelInfo(grpc::ServerContext* context,
                                                  const muke::v1::GetModelInfoRequest* request,
                                                  muke::v1::ModelInfo* response) {
  const ModelConfig& config = model_.config();
  response->set_model_dir(model_.dir());
  response->set_model_type(config.model_type);
  response->set_num_hidden_layers(config.num_hidden_layers);
  response->set_hidden_size(config.hidden_size);
  response->set_intermediate_size(config.intermediate_size);
  response->set_num_attention_heads(config.num_attention_heads);
  response->set_num_key_value_heads(config.num_key_value_heads);
  response->set_head_dim(config.head_dim);
  response->set_vocab_size(config.vocab_size);
  response->set_max_position_embeddings(config.max_position_embeddings);
  response->set_dtype(DtypeName(model_.dtype()));
  response->set_device(model_.device().str());
  response->set_parameter_count(model_.parameter_count());
  if (auto bos = model_.tokenizer().bos_id()) response->set_bos_token_id(*bos);
  for (int64_t id : model_.tokenizer().eos_ids()) response->add_eos_token_ids(id);
  return grpc::Status::OK;
}

grpc::Status KnowledgeEditorService::Generate(grpc::ServerContext* context, const muke::v1::GenerateRequest* request,
                                              muke::v1::GenerateResponse* response) {
  const auto start = std::chrono::steady_clock::now();
  GenerateCall call;
  call.method = GenerateMethod::kGenerate;
  const absl::Status status = DoGenerate(context, *request, response, &call);
  RecordCall(start, status, &call, metrics_);
  return Finish("Generate", status);
}

grpc::Status KnowledgeEditorService::GenerateStream(grpc::ServerContext* context,
                                                    const muke::v1::GenerateRequest* request,
                                                    grpc::ServerWriter<muke::v1::GenerateStreamResponse>* writer) {
  const auto start = std::chrono::steady_clock::now();
  GenerateCall call;
  call.method = GenerateMethod::kGenerateStream;
  const absl::Status status = DoGenerateStream(context, *request, writer, &call);
  RecordCall(start, status, &call, metrics_);
  return Finish("GenerateStream", status);
}

absl::Status KnowledgeEditorService::DoGenerate(grpc::ServerContext* context,
                                                const muke::v1::GenerateRequest& request,
                                                muke::v1::GenerateResponse* response, GenerateCall* call) {
  MUKE_ASSIGN_OR_RETURN(GenerationPlan plan, PlanGeneration(request, model_, limits_));
  call->prompt_tokens = static_cast<int64_t>(plan.prompt_ids.size());
  plan.options.on_token = [context](int64_t) { return !context->IsCancelled(); };
  MUKE_ASSIGN_OR_RETURN(TimedGeneration generation, model_.Generate(plan.prompt_ids, plan.options));
  CountTokens(generation, call);
  LogGeneration("Generate", plan, generation);
  if (generation.result.finish_reason == "cancelled") return Cancelled("Generate", generation);
  MUKE_ASSIGN_OR_RETURN(std::string text,
                        DecodeContinuation(model_.tokenizer(), plan.prompt_ids, generation.result.ids));

  response->mutable_prompt_ids()->Add(plan.prompt_ids.begin(), plan.prompt_ids.end());
  response->mutable_ids()->Add(generation.result.ids.begin(), generation.result.ids.end());
  response->set_text(std::move(text));
  response->set_finish_reason(ToProto(generation.result.finish_reason));
  SetTiming(generation, response->mutable_timing());
  return absl::OkStatus();
}

absl::Status KnowledgeEditorService::DoGenerateStream(grpc::ServerContext* context,
                                                      const muke::v1::GenerateRequest& request,
                                                      grpc::ServerWriter<muke::v1::GenerateStreamResponse>* writer,
                                                      GenerateCall* call) {
  MUKE_ASSIGN_OR_RETURN(GenerationPlan plan, PlanGeneration(request, model_, limits_));
  call->prompt_tokens = static_cast<int64_t>(plan.prompt_ids.size());
  TextDeltaStream text(model_.tokenizer(), plan.prompt_ids);
  absl::Status stream_status;
  plan.options.on_token = [&](int64_t id) {
    auto delta = text.Append(id);
    if (!delta.ok()) {
      stream_status = delta.status();
      return false;
    }
    muke::v1::GenerateStreamResponse message;
    message.mutable_token()->set_id(id);
    message.mutable_token()->set_text_delta(std::move(*delta));
    return !context->IsCancelled() && writer->Write(message);
  };
  MUKE_ASSIGN_OR_RETURN(TimedGeneration generation, model_.Generate(plan.prompt_ids, plan.options));
  CountTokens(generation, call);
  MUKE_RETURN_IF_ERROR(stream_status);
  LogGeneration("GenerateStream", plan, generation);
  if (generation.result.finish_reason == "cancelled") return Cancelled("GenerateStream", generation);

  MUKE_ASSIGN_OR_RETURN(std::string tail, text.Finish());
  muke::v1::GenerateStreamResponse message;
  muke::v1::GenerateStreamSummary* summary = message.mutable_summary();
  summary->set_finish_reason(ToProto(generation.result.finish_reason));
  summary->mutable_prompt_ids()->Add(plan.prompt_ids.begin(), plan.prompt_ids.end());
  summary->set_new_token_count(static_cast<int32_t>(generation.result.ids.size()));
  SetTiming(generation, summary->mutable_timing());
  summary->set_text_delta(std::move(tail));
  writer->Write(message);
  return absl::OkStatus();
}

grpc::Status KnowledgeEditorService::EditKnowledge(grpc::ServerContext* context,
                                                   const muke::v1::EditKnowledgeRequest* request,
                                                   muke::v1::Edit* response) {
  absl::StatusOr<EditPlan> plan = PlanEdit(*request, model_, edit_limits_);
  if (!plan.ok()) return Finish("EditKnowledge", plan.status());
  const absl::Status status = Respond(edits_.Submit(*request, std::move(*plan)), response);
  if (status.ok()) Log(LogLevel::kInfo, "edit_accepted", {{"id", response->id()}, {"request_id", response->request_id()}});
  return Finish("EditKnowledge", status);
}

grpc::Status KnowledgeEditorService::GetEdit(grpc::ServerContext* context, const muke::v1::GetEditRequest* request,
                                             muke::v1::Edit* response) {
  return Finish("GetEdit", Respond(edits_.Get(request->id()), response));
}

grpc::Status KnowledgeEditorService::ListEdits(grpc::ServerContext* context, const muke::v1::ListEditsRequest* request,
                                               muke::v1::ListEditsResponse* response) {
  return Finish("ListEdits", Respond(edits_.List(request->page_size(), request->page_token()), response));
}

grpc::Status KnowledgeEditorService::CancelEdit(grpc::ServerContext* context,
                                                const muke::v1::CancelEditRequest* request, muke::v1::Edit* response) {
  return Finish("CancelEdit", Respond(edits_.Cancel(request->id()), response));
}

grpc::Status KnowledgeEditorService::RollbackEdit(grpc::ServerContext* context,
                                                  const muke::v1::RollbackEditRequest* request,
                                                  muke::v1::Edit* response) {
  return Finish("RollbackEdit", Respond(worker_.Rollback(request->id()), response));
}

grpc::Status KnowledgeEditorService::ExportCheckpoint(grpc::ServerContext* context,
                                                      const muke::v1::ExportCheckpointRequest* request,
                                                      muke::v1::ExportCheckpointResponse* response) {
  return Finish("ExportCheckpoint", DoExportCheckpoint(*request, response));
}

absl::Status KnowledgeEditorService::DoExportCheckpoint(const muke::v1::ExportCheckpointRequest& request,
                                                        muke::v1::ExportCheckpointResponse* response) {
  const auto start = std::chrono::steady_clock::now();
  if (export_dir_.empty()) {
    return absl::FailedPreconditionError("this server has no export directory (start it with --data-dir or --export-dir)");
  }
  const std::string path = request.path().empty()
                               ? absl::StrCat("checkpoint-", absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(), absl::UTCTimeZone()))
                               : request.path();
  MUKE_RETURN_IF_ERROR(CheckExportPath(path));
  const uint64_t max_shard_bytes = request.has_max_shard_bytes() ? request.max_shard_bytes() : 5ull << 30;
  if (request.has_max_shard_bytes() && request.max_shard_bytes() < static_cast<int64_t>(kMinShardBytes)) {
    return absl::InvalidArgumentError(absl::StrCat("max_shard_bytes: must be at least ", kMinShardBytes, ", got ",
                                                   request.max_shard_bytes()));
  }
  absl::StatusOr<ExportedCheckpoint> exported = absl::InternalError("not exported");
  std::vector<muke::v1::Edit> edits;
  MUKE_RETURN_IF_ERROR(worker_.WithoutChanges([&] {
    edits = edits_.Applied();
    exported = muke::server::ExportCheckpoint(model_, export_dir_, path, request.overwrite(), max_shard_bytes, edits);
    return exported.status();
  }));
  response->set_path(exported->dir);
  response->mutable_files()->Add(exported->files.begin(), exported->files.end());
  response->set_bytes(exported->bytes);
  for (const muke::v1::Edit& edit : edits) response->add_edit_ids(edit.id());
  *response->mutable_duration() = TimeUtil::NanosecondsToDuration(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
  Log(LogLevel::kInfo, "exported", {{"path", exported->dir}, {"edits", std::to_string(edits.size())},
                                    {"bytes", std::to_string(exported->bytes)}});
  return absl::OkStatus();
}

grpc::Status KnowledgeEditorService::WatchEdit(grpc::ServerContext* context, const muke::v1::WatchEditRequest* request,
                                               grpc::ServerWriter<muke::v1::EditEvent>* writer) {
  return Finish("WatchEdit", DoWatchEdit(context, *request, writer));
}

absl::Status KnowledgeEditorService::DoWatchEdit(grpc::ServerContext* context, const muke::v1::WatchEditRequest& request,
                                                 grpc::ServerWriter<muke::v1::EditEvent>* writer) {
  size_t next = 0;
  while (!context->IsCancelled()) {
    MUKE_ASSIGN_OR_RETURN(std::vector<muke::v1::EditEvent> events,
                          edits_.Events(request.id(), next, kWatchPollInterval));
    for (const muke::v1::EditEvent& event : events) {
      if (!writer->Write(event)) return absl::CancelledError("WatchEdit: the client has gone");
      ++next;
      if (event.has_edit() && IsTerminal(event.state())) return absl::OkStatus();
    }
  }
  return absl::CancelledError("WatchEdit: cancelled");
}

}  // namespace muke::server
