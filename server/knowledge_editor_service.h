// The muke.v1.KnowledgeEditor gRPC service over a ServedModel (synchronous API: gRPC runs each call on one
// of its threads). Handlers work in absl::Status and convert once, at the edge, with ToGrpcStatus.
#pragma once

#include "absl/status/status.h"
#include "muke/v1/knowledge_editor.grpc.pb.h"
#include "server/generate_request.h"
#include "server/served_model.h"

namespace muke::server {

class KnowledgeEditorService final : public muke::v1::KnowledgeEditor::Service {
 public:
  // `model` must outlive the service.
  KnowledgeEditorService(const ServedModel& model, GenerationLimits limits);

  grpc::Status GetModelInfo(grpc::ServerContext* context, const muke::v1::GetModelInfoRequest* request,
                            muke::v1::ModelInfo* response) override;
  // Both stop generating at the next token once the call is cancelled (by the client, its deadline or the
  // server's shutdown deadline) and then fail with CANCELLED.
  grpc::Status Generate(grpc::ServerContext* context, const muke::v1::GenerateRequest* request,
                        muke::v1::GenerateResponse* response) override;
  grpc::Status GenerateStream(grpc::ServerContext* context, const muke::v1::GenerateRequest* request,
                              grpc::ServerWriter<muke::v1::GenerateStreamResponse>* writer) override;

 private:
  absl::Status DoGenerate(grpc::ServerContext* context, const muke::v1::GenerateRequest& request,
                          muke::v1::GenerateResponse* response);
  absl::Status DoGenerateStream(grpc::ServerContext* context, const muke::v1::GenerateRequest& request,
                                grpc::ServerWriter<muke::v1::GenerateStreamResponse>* writer);

  const ServedModel& model_;
  const GenerationLimits limits_;
};

}  // namespace muke::server
