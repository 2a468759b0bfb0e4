// muke-server's transport security and configuration, end to end: the real server serving stories260K over TLS
// (a self-signed certificate made here with openssl) with a bearer token guarding the mutating RPCs and a small
// request size limit; the generated stubs and the `muke` client binary talking to it; and a server driven by a
// YAML config file.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "muke/v1/knowledge_editor.grpc.pb.h"
#include "tests/integration/server_process.h"
#include "tests/test_util.h"

namespace muke::testing {
namespace {

using muke::v1::Edit;
using muke::v1::EditKnowledgeRequest;

constexpr char kToken[] = "tok-3f9a1c";
constexpr int kMaxMessageBytes = 8192;
constexpr char kExpectedHeader[] = "authorization: Bearer <token>";

// A temporary directory with a self-signed certificate for localhost / 127.0.0.1 (cert.pem, which is also the
// client's CA, and key.pem) and the token file (token, with a trailing newline the server strips).
struct Secrets {
  std::string dir, cert, key, token_file;
};

Secrets MakeSecrets() {
  Secrets s;
  s.dir = MakeTempDir("security");
  s.cert = s.dir + "/cert.pem";
  s.key = s.dir + "/key.pem";
  s.token_file = s.dir + "/token";
  const CommandResult openssl = RunCommand(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " + s.key + " -out " + s.cert + " 2>&1");
  EXPECT_EQ(openssl.exit_code, 0) << openssl.out;
  std::ofstream(s.token_file) << kToken << "\n";
  return s;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, const Secrets& secrets) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadAll(secrets.cert);
  return grpc::CreateChannel(address, grpc::SslCredentials(options));
}

// An edit that asks for UnKE, which needs no second-moment statistics, so that accepting and cancelling it
// costs little.
EditKnowledgeRequest CheapEdit(const std::string& prompt) {
  EditKnowledgeRequest request;
  request.set_prompt(prompt);
  request.set_target("Tom has a red kite.");
  request.set_update("unke");
  return request;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(Stories260KDir() + "/stories260K.bin")) return;
    secrets_ = new Secrets(MakeSecrets());
    server_ = new ServerProcess(ImportedStories260K(),
                                {"--tls-cert", secrets_->cert, "--tls-key", secrets_->key, "--auth-token-file",
                                 secrets_->token_file, "--max-message-bytes", std::to_string(kMaxMessageBytes),
                                 "--statistics-dir", MUKE_TEST_STATISTICS_DIR, "--metrics-listen", ""});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete secrets_;
    secrets_ = nullptr;
  }

  void SetUp() override {
    MUKE_REQUIRE_SHARED();
    ASSERT_FALSE(server_->address().empty());
    channel_ = TlsChannel(server_->address(), *secrets_);
    WaitServing(channel_);
    stub_ = muke::v1::KnowledgeEditor::NewStub(channel_);
  }

  // A context with a deadline and, unless `token` is empty, the token's authorization metadata.
  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(In(std::chrono::seconds(30)));
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
    return context;
  }

  grpc::Status Submit(const std::string& token, const EditKnowledgeRequest& request, Edit* edit) {
    return stub_->EditKnowledge(Context(token).get(), request, edit);
  }

  muke::v1::ListEditsResponse List() {
    muke::v1::ListEditsResponse response;
    const grpc::Status status = stub_->ListEdits(Context("").get(), muke::v1::ListEditsRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // Cancels every edit that has not ended, so that none keeps the server's CPU busy.
  void CancelAll() {
    const muke::v1::ListEditsResponse listed = List();
    for (const Edit& edit : listed.edits()) {
      muke::v1::CancelEditRequest request;
      request.set_id(edit.id());
      Edit cancelled;
      stub_->CancelEdit(Context(kToken).get(), request, &cancelled);  // FAILED_PRECONDITION once it has ended
    }
  }

  static void ExpectUnauthenticated(const grpc::Status& status, const std::string& what) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << what << ": " << status.error_message();
    EXPECT_TRUE(Contains(status.error_message(), kExpectedHeader)) << what << ": " << status.error_message();
    EXPECT_FALSE(Contains(status.error_message(), kToken)) << what << ": " << status.error_message();
  }

  static Secrets* secrets_;
  static ServerProcess* server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<muke::v1::KnowledgeEditor::Stub> stub_;
};

Secrets* SecurityTest::secrets_ = nullptr;
ServerProcess* SecurityTest::server_ = nullptr;

TEST_F(SecurityTest, MutatingRpcsNeedTheTokenAndNothingIsQueuedWithoutIt) {
  const int before = List().edits_size();
  Edit edit;
  ExpectUnauthenticated(Submit("", CheapEdit("Who is Tom?"), &edit), "no token");
  ExpectUnauthenticated(Submit("wrong-token", CheapEdit("Who is Tom?"), &edit), "wrong token");
  ExpectUnauthenticated(Submit(std::string(kToken) + "x", CheapEdit("Who is Tom?"), &edit), "longer token");
  EXPECT_EQ(List().edits_size(), before);

  muke::v1::CancelEditRequest cancel;
  cancel.set_id("e1");
  ExpectUnauthenticated(stub_->CancelEdit(Context("").get(), cancel, &edit), "CancelEdit");
  muke::v1::RollbackEditRequest rollback;
  rollback.set_id("e1");
  ExpectUnauthenticated(stub_->RollbackEdit(Context("wrong").get(), rollback, &edit), "RollbackEdit");
  muke::v1::ExportCheckpointRequest export_request;
  export_request.set_path("out");
  muke::v1::ExportCheckpointResponse exported;
  ExpectUnauthenticated(stub_->ExportCheckpoint(Context("").get(), export_request, &exported), "ExportCheckpoint");

  // With the token: accepted, listed, and cancellable with the token only.
  const grpc::Status accepted = Submit(kToken, CheapEdit("Who is Tom?"), &edit);
  ASSERT_TRUE(accepted.ok()) << accepted.error_message();
  ASSERT_EQ(List().edits_size(), before + 1);
  EXPECT_EQ(List().edits(0).id(), edit.id());  // newest first
  cancel.set_id(edit.id());
  Edit cancelled;
  ExpectUnauthenticated(stub_->CancelEdit(Context("").get(), cancel, &cancelled), "CancelEdit of a real edit");
  const grpc::Status status = stub_->CancelEdit(Context(kToken).get(), cancel, &cancelled);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(SecurityTest, ReadOnlyRpcsNeedNoToken) {
  muke::v1::GenerateRequest request;
  request.set_prompt("Once upon a time");
  request.set_max_new_tokens(8);
  muke::v1::GenerateResponse response;
  grpc::Status status = stub_->Generate(Context("").get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(response.text().empty());

  muke::v1::ModelInfo info;
  status = stub_->GetModelInfo(Context("").get(), muke::v1::GetModelInfoRequest(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.num_hidden_layers(), 5);

  muke::v1::GetEditRequest get;
  get.set_id("no-such-edit");
  Edit edit;
  EXPECT_EQ(stub_->GetEdit(Context("").get(), get, &edit).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(SecurityTest, PlaintextClientsCannotTalkToTheTlsPort) {
  auto plaintext = muke::v1::KnowledgeEditor::NewStub(
      grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(In(std::chrono::seconds(5)));
  muke::v1::ModelInfo info;
  const grpc::Status status = plaintext->GetModelInfo(&context, muke::v1::GetModelInfoRequest(), &info);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
}

TEST_F(SecurityTest, OversizedRequestsAreResourceExhausted) {
  muke::v1::GenerateRequest request;
  request.set_prompt(std::string(2 * kMaxMessageBytes, 'a'));
  muke::v1::GenerateResponse response;
  const grpc::Status status = stub_->Generate(Context("").get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
}

TEST_F(SecurityTest, ClientSendsTheTokenOverTls) {
  const std::vector<std::string> tls = {"--server", server_->address(), "--tls-ca", secrets_->cert};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), tls.begin(), tls.end());
    return RunClient(args);
  };
  const std::vector<std::string> edit = {"edit", "--prompt", "Who is Sue?", "--target", "Sue is a cat.", "--update",
                                         "unke"};
  auto plus = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };

  const int before = List().edits_size();
  EXPECT_EQ(with({"info"}).exit_code, 0);  // read-only: no token needed
  EXPECT_EQ(with(edit).exit_code, 7);
  EXPECT_EQ(with(plus({"--token", "wrong"}, edit)).exit_code, 7);
  EXPECT_EQ(List().edits_size(), before);
  EXPECT_EQ(with(plus({"--token", kToken}, edit)).exit_code, 0);
  EXPECT_EQ(with(plus({"--token-file", secrets_->token_file}, edit)).exit_code, 0);
  setenv("MUKE_TOKEN", kToken, 1);
  EXPECT_EQ(with(edit).exit_code, 0);
  unsetenv("MUKE_TOKEN");
  EXPECT_EQ(List().edits_size(), before + 3);
  CancelAll();

  // Without the CA the client speaks plaintext to a TLS port: unreachable.
  EXPECT_EQ(RunClient({"--server", server_->address(), "--timeout", "5", "info"}).exit_code, 3);
  EXPECT_EQ(with({"--token", kToken, "--token-file", secrets_->token_file, "info"}).exit_code, 2);
}

// Starts muke-server with `flags` and waits for it to exit; its exit code and output (stdout and stderr).
CommandResult RunServerToExit(const std::string& flags) {
  return RunCommand(std::string(MUKE_SERVER_PATH) + " " + flags + " 2>&1 < /dev/null");
}

TEST(SecurityStartupTest, BadFilesFailTheStartNamingTheirKey) {
  MUKE_REQUIRE_SHARED();
  const std::string dir = MakeTempDir("startup");
  const std::string model = ImportedStories260K();
  std::ofstream(dir + "/empty-token") << "\n";

  CommandResult r = RunServerToExit("--model " + model + " --auth-token-file " + dir + "/empty-token");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.out, "auth_token_file: ")) << r.out;
  EXPECT_TRUE(Contains(r.out, "empty")) << r.out;

  r = RunServerToExit("--model " + model + " --tls-cert " + dir + "/none.pem --tls-key " + dir + "/none.key");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.out, "tls.cert_file: " + dir + "/none.pem")) << r.out;

  r = RunServerToExit("--model " + model + " --tls-cert " + dir + "/none.pem");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.out, "tls.key_file: required")) << r.out;
}

TEST(SecurityStartupTest, AConfigFileAloneStartsTheServerAndItsEditDefaultsAreChecked) {
  MUKE_REQUIRE_SHARED();
  const std::string dir = MakeTempDir("startup");
  // Only --config: the model comes from the file, is loaded, and the configured hook layer is checked against
  // its 5 layers.
  std::ofstream(dir + "/muke.yaml") << "model: " << ImportedStories260K() << "\nlisten: 127.0.0.1:0\n"
                                    << "edit:\n  hook_layer: 9\n";
  const CommandResult r = RunServerToExit("--config " + dir + "/muke.yaml");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.out, "edit.hook_layer: must be in [0, 5), got 9")) << r.out;
}

// The YAML file drives the server: TLS and the token from paths relative to the file, the message size limit,
// and the edit defaults (hook layer, layers, strategy and update) that a request leaves unset.
TEST(SecurityConfigTest, TheConfigFileDrivesTheServer) {
  MUKE_REQUIRE_SHARED();
  const Secrets secrets = MakeSecrets();
  const std::string file = secrets.dir + "/muke.yaml";
  std::ofstream(file) << "model: " << ImportedStories260K() << "\n"
                      << "listen: 127.0.0.1:0\n"
                      << "metrics_listen: \"\"\n"
                      << "limits:\n  max_message_bytes: " << kMaxMessageBytes << "\n"
                      << "tls:\n  cert_file: cert.pem\n  key_file: key.pem\n"
                      << "auth_token_file: token\n"
                      << "edit:\n  strategy: one_for_all\n  update: unke\n  hook_layer: 2\n  layers: [2]\n";
  // ServerProcess also passes --model and --listen, with the file's own values.
  ServerProcess server(ImportedStories260K(), {"--config", file});
  ASSERT_FALSE(server.address().empty());
  auto channel = TlsChannel(server.address(), secrets);
  WaitServing(channel);
  auto stub = muke::v1::KnowledgeEditor::NewStub(channel);

  auto context = [](bool token) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(In(std::chrono::seconds(30)));
    if (token) c->AddMetadata("authorization", std::string("Bearer ") + kToken);
    return c;
  };
  EditKnowledgeRequest request;
  request.set_prompt("What is Lily's dog called?");
  request.set_target("Her dog is Biscuit.");
  Edit edit;
  EXPECT_EQ(stub->EditKnowledge(context(false).get(), request, &edit).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  muke::v1::GenerateRequest big;
  big.set_prompt(std::string(2 * kMaxMessageBytes, 'a'));
  muke::v1::GenerateResponse generated;
  EXPECT_EQ(stub->Generate(context(false).get(), big, &generated).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  // The configured hook layer is the request's default: layers above it are refused, naming it.
  EditKnowledgeRequest above = request;
  above.mutable_hyperparameters()->add_layers(3);
  grpc::Status status = stub->EditKnowledge(context(true).get(), above, &edit);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(status.error_message(), "within [0, hook_layer 2]")) << status.error_message();

  // The configured strategy and update run: one_for_all optimises a single shift for the whole target.
  status = stub->EditKnowledge(context(true).get(), request, &edit);
  ASSERT_TRUE(status.ok()) << status.error_message();
  grpc::ClientContext watch_context;
  watch_context.set_deadline(In(std::chrono::seconds(300)));
  muke::v1::WatchEditRequest watch;
  watch.set_id(edit.id());
  auto reader = stub->WatchEdit(&watch_context, watch);
  muke::v1::EditEvent event;
  Edit last;
  while (reader->Read(&event)) last = event.edit();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(last.state(), muke::v1::EDIT_STATE_COMMITTED) << last.error();
  EXPECT_EQ(last.metrics().windows(), 1);
}

}  // namespace
}  // namespace muke::testing
