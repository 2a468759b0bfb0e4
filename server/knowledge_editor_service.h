// The muke.v1.KnowledgeEditor gRPC service over a ServedModel and its EditRegistry (synchronous API: gRPC runs
// each call on one of its threads). Handlers work in absl::Status and convert once, at the edge, with
// ToGrpcStatus. Edits are only validated and queued here; the EditWorker runs them.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "muke/v1/knowledge_editor.grpc.pb.h"
#include "server/edit_registry.h"
#include "server/edit_request.h"
#include "server/edit_worker.h"
#include "server/generate_request.h"
#include "server/served_model.h"
#include "server/server_metrics.h"

namespace muke::server {

class KnowledgeEditorService final : public muke::v1::KnowledgeEditor::Service {
 public:
  // `model`, `edits`, `worker` and `metrics` must outlive the service. `export_dir` roots ExportCheckpoint
  // (empty: the server exports nothing).
  KnowledgeEditorService(const ServedModel& model, EditRegistry& edits, EditWorker& worker, ServerMetrics& metrics,
                         GenerationLimits generation_limits, EditLimits edit_limits, std::string export_dir);

  grpc::Status GetModelInfo(grpc::ServerContext* context, const muke::v1::GetModelInfoRequest* request,
                            muke::v1::ModelInfo* response) override;
  // Both stop generating at the next token once the call is cancelled (by the client, its deadline or the
  // server's shutdown deadline) and then fail with CANCELLED.
  grpc::Status Generate(grpc::ServerContext* context, const muke::v1::GenerateRequest* request,
                        muke::v1::GenerateResponse* response) override;
  grpc::Status GenerateStream(grpc::ServerContext* context, const muke::v1::GenerateRequest* request,
                              grpc::ServerWriter<muke::v1::GenerateStreamResponse>* writer) override;

  grpc::Status EditKnowledge(grpc::ServerContext* context, const muke::v1::EditKnowledgeRequest* request,
                             muke::v1::Edit* response) override;
  grpc::Status GetEdit(grpc::ServerContext* context, const muke::v1::GetEditRequest* request,
                       muke::v1::Edit* response) override;
  grpc::Status ListEdits(grpc::ServerContext* context, const muke::v1::ListEditsRequest* request,
                         muke::v1::ListEditsResponse* response) override;
  // Ends after the edit's terminal event, or with CANCELLED when the call is cancelled.
  grpc::Status WatchEdit(grpc::ServerContext* context, const muke::v1::WatchEditRequest* request,
                         grpc::ServerWriter<muke::v1::EditEvent>* writer) override;
  grpc::Status CancelEdit(grpc::ServerContext* context, const muke::v1::CancelEditRequest* request,
                          muke::v1::Edit* response) override;
  grpc::Status RollbackEdit(grpc::ServerContext* context, const muke::v1::RollbackEditRequest* request,
                            muke::v1::Edit* response) override;
  grpc::Status ExportCheckpoint(grpc::ServerContext* context, const muke::v1::ExportCheckpointRequest* request,
                                muke::v1::ExportCheckpointResponse* response) override;

 private:
  // Both fill in `call`'s token counts and time to first token as far as they get.
  absl::Status DoGenerate(grpc::ServerContext* context, const muke::v1::GenerateRequest& request,
                          muke::v1::GenerateResponse* response, GenerateCall* call);
  absl::Status DoGenerateStream(grpc::ServerContext* context, const muke::v1::GenerateRequest& request,
                                grpc::ServerWriter<muke::v1::GenerateStreamResponse>* writer, GenerateCall* call);
  absl::Status DoExportCheckpoint(const muke::v1::ExportCheckpointRequest& request,
                                  muke::v1::ExportCheckpointResponse* response);
  absl::Status DoWatchEdit(grpc::ServerContext* context, const muke::v1::WatchEditRequest& request,
                           grpc::ServerWriter<muke::v1::EditEvent>* writer);

  const ServedModel& model_;
  EditRegistry& edits_;
  EditWorker& worker_;
  ServerMetrics& metrics_;
  const GenerationLimits limits_;
  const EditLimits edit_limits_;
  const std::string export_dir_;
};

}  // namespace muke::server
