// Bearer-token authentication of the mutating RPCs (EditKnowledge, CancelEdit, RollbackEdit, ExportCheckpoint):
// the token's check, and the muke.v1.KnowledgeEditor service wrapped so that those RPCs run only with
// `authorization: Bearer <token>` call metadata. Read-only RPCs stay open.
#pragma once

#include <array>
#include <map>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "muke/v1/knowledge_editor.grpc.pb.h"

namespace muke::server {

// Checks call metadata against one token. Only the token's SHA-256 is kept, and digests are compared in
// constant time, so neither the token's bytes nor its length show in the time a check takes.
class BearerTokenChecker {
 public:
  // The token is the file's content without trailing whitespace; INVALID_ARGUMENT when that is empty, the
  // file's read error (naming it) when it cannot be read.
  static absl::StatusOr<BearerTokenChecker> FromFile(const std::string& path);
  explicit BearerTokenChecker(const std::string& token);

  // OK when `metadata` holds `authorization: Bearer <token>`; UNAUTHENTICATED saying which header is expected
  // otherwise (never echoing a token).
  absl::Status Check(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const;

 private:
  static constexpr size_t kDigestBytes = 32;  // SHA-256
  std::array<unsigned char, kDigestBytes> digest_;
};

// muke.v1.KnowledgeEditor over `inner`: every RPC is forwarded; the mutating ones answer UNAUTHENTICATED
// instead unless the checker accepts the call. An RPC added to the service but not here answers
// UNIMPLEMENTED, so a new mutating RPC is never open by mistake.
class AuthenticatedKnowledgeEditor final : public muke::v1::KnowledgeEditor::Service {
 public:
  // `inner` must outlive this service.
  AuthenticatedKnowledgeEditor(muke::v1::KnowledgeEditor::Service& inner, BearerTokenChecker checker);

  grpc::Status GetModelInfo(grpc::ServerContext* context, const muke::v1::GetModelInfoRequest* request,
                            muke::v1::ModelInfo* response) override;
  grpc::Status Generate(grpc::ServerContext* context, const muke::v1::GenerateRequest* request,
                        muke::v1::GenerateResponse* response) override;
  grpc::Status GenerateStream(grpc::ServerContext* context, const muke::v1::GenerateRequest* request,
                              grpc::ServerWriter<muke::v1::GenerateStreamResponse>* writer) override;
  grpc::Status GetEdit(grpc::ServerContext* context, const muke::v1::GetEditRequest* request,
                       muke::v1::Edit* response) override;
  grpc::Status ListEdits(grpc::ServerContext* context, const muke::v1::ListEditsRequest* request,
                         muke::v1::ListEditsResponse* response) override;
  grpc::Status WatchEdit(grpc::ServerContext* context, const muke::v1::WatchEditRequest* request,
                         grpc::ServerWriter<muke::v1::EditEvent>* writer) override;

  // Mutating: authenticated first.
  grpc::Status EditKnowledge(grpc::ServerContext* context, const muke::v1::EditKnowledgeRequest* request,
                             muke::v1::Edit* response) override;
  grpc::Status CancelEdit(grpc::ServerContext* context, const muke::v1::CancelEditRequest* request,
                          muke::v1::Edit* response) override;
  grpc::Status RollbackEdit(grpc::ServerContext* context, const muke::v1::RollbackEditRequest* request,
                            muke::v1::Edit* response) override;
  grpc::Status ExportCheckpoint(grpc::ServerContext* context, const muke::v1::ExportCheckpointRequest* request,
                                muke::v1::ExportCheckpointResponse* response) override;

 private:
  // OK, or the UNAUTHENTICATED status to answer `method` with (logged).
  grpc::Status Authenticate(const char* method, const grpc::ServerContext& context) const;

  muke::v1::KnowledgeEditor::Service& inner_;
  const BearerTokenChecker checker_;
};

}  // namespace muke::server
