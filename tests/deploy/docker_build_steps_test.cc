// The container images build the way CI does: CI (.ci/run → scripts/test.sh) installs with
// scripts/install-deps.sh and builds with scripts/build.sh, and docker/Dockerfile and docker/Dockerfile.cuda RUN
// exactly those two scripts in their build stage and no compiler or CMake of their own; .dockerignore keeps
// what the build needs in the context; the runtime stage is what the deployment expects (non-root, ports,
// volumes, health check through `muke health`). No Docker engine is needed: the files are parsed.
#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

const std::string kSource = MUKE_SOURCE_DIR;

std::string Read(const std::string& relative) {
  std::ifstream in(kSource + "/" + relative);
  EXPECT_TRUE(in) << "cannot read " << relative;
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string Trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t\r") - begin + 1);
}

std::vector<std::string> Words(const std::string& s) {
  std::vector<std::string> words;
  std::istringstream in(s);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// One Dockerfile instruction, continuation lines joined; `stage` counts FROMs (0 = before the first).
struct Instruction {
  int stage = 0;
  std::string keyword;  // upper case
  std::string args;
};

struct Dockerfile {
  std::vector<Instruction> instructions;
  std::vector<std::string> stage_names;  // by stage - 1: the FROM's `AS name`, or ""

  std::vector<Instruction> Of(int stage, const std::string& keyword) const {
    std::vector<Instruction> out;
    for (const auto& i : instructions) {
      if (i.stage == stage && i.keyword == keyword) out.push_back(i);
    }
    return out;
  }
  int Stage(const std::string& name) const {
    for (size_t i = 0; i < stage_names.size(); ++i) {
      if (stage_names[i] == name) return static_cast<int>(i) + 1;
    }
    return -1;
  }
  int last_stage() const { return static_cast<int>(stage_names.size()); }
};

// Parses the Dockerfile syntax this repository uses: comments, `\` continuations (comment lines inside a
// continuation are skipped, as Docker does), one instruction per logical line.
Dockerfile Parse(const std::string& text) {
  Dockerfile file;
  std::string logical;
  auto flush = [&] {
    const std::string line = Trim(logical);
    logical.clear();
    if (line.empty()) return;
    const size_t space = line.find_first_of(" \t");
    Instruction instruction;
    instruction.keyword = line.substr(0, space);
    std::transform(instruction.keyword.begin(), instruction.keyword.end(), instruction.keyword.begin(), ::toupper);
    instruction.args = space == std::string::npos ? "" : Trim(line.substr(space));
    if (instruction.keyword == "FROM") {
      const std::vector<std::string> w = Words(instruction.args);
      std::string name;
      if (w.size() == 3 && (w[1] == "AS" || w[1] == "as")) name = w[2];
      file.stage_names.push_back(name);
    }
    instruction.stage = static_cast<int>(file.stage_names.size());
    file.instructions.push_back(instruction);
  };
  bool continued = false;
  for (const std::string& raw : Lines(text)) {
    const std::string line = Trim(raw);
    if (!line.empty() && line[0] == '#') continue;
    if (line.empty() && !continued) continue;
    if (!line.empty() && line.back() == '\\') {
      logical += line.substr(0, line.size() - 1) + " ";
      continued = true;
      continue;
    }
    logical += line;
    continued = false;
    flush();
  }
  flush();
  return file;
}

// The shell's simple commands of a RUN line: split at &&, ||, ; and |.
std::vector<std::string> SimpleCommands(const std::string& run) {
  std::vector<std::string> commands;
  std::string current;
  for (size_t i = 0; i < run.size(); ++i) {
    const char c = run[i];
    if (c == ';' || c == '|' || (c == '&' && i + 1 < run.size() && run[i + 1] == '&')) {
      commands.push_back(Trim(current));
      current.clear();
      if (i + 1 < run.size() && (run[i + 1] == '&' || run[i + 1] == '|')) ++i;
      continue;
    }
    current += c;
  }
  commands.push_back(Trim(current));
  commands.erase(std::remove(commands.begin(), commands.end(), ""), commands.end());
  return commands;
}

// A command's program, after leading VAR=value assignments; the assignments go to *env.
std::string Program(const std::string& command, std::map<std::string, std::string>* env = nullptr,
                    std::vector<std::string>* args = nullptr) {
  // Split into words, keeping "..." together.
  std::vector<std::string> words;
  std::string word;
  bool quoted = false;
  for (char c : command) {
    if (c == '"') {
      quoted = !quoted;
      continue;
    }
    if ((c == ' ' || c == '\t') && !quoted) {
      if (!word.empty()) words.push_back(word);
      word.clear();
      continue;
    }
    word += c;
  }
  if (!word.empty()) words.push_back(word);
  static const std::regex assignment("([A-Za-z_][A-Za-z0-9_]*)=(.*)");
  size_t i = 0;
  for (std::smatch m; i < words.size() && std::regex_match(words[i], m, assignment); ++i) {
    if (env) (*env)[m[1]] = m[2];
  }
  if (i == words.size()) return "";
  if (args) args->assign(words.begin() + static_cast<long>(i) + 1, words.end());
  return words[i];
}

// The programs that build C++ themselves: only scripts/build.sh may run them.
bool IsBuildTool(const std::string& program) {
  static const std::set<std::string> tools = {"cmake", "ninja", "make", "gcc", "g++", "cc", "c++", "clang",
                                              "clang++", "ctest", "ccache"};
  return tools.count(fs::path(program).filename().string()) > 0;
}

// The script invocations of the build: `bash scripts/X.sh ...` or `scripts/X.sh ...`.
bool Invokes(const std::string& command, const std::string& script, std::map<std::string, std::string>* env,
             std::vector<std::string>* args) {
  std::vector<std::string> rest;
  const std::string program = Program(command, env, &rest);
  if (program == script || program == "./" + script) {
    if (args) *args = rest;
    return true;
  }
  if (program == "bash" && !rest.empty() && rest[0] == script) {
    if (args) args->assign(rest.begin() + 1, rest.end());
    return true;
  }
  return false;
}

// The CMake targets defined in the tree (add_executable / add_library names).
std::set<std::string> CmakeTargets() {
  std::set<std::string> targets;
  static const std::regex add(R"((add_executable|add_library)\(\s*([A-Za-z0-9_.+-]+))");
  for (const char* dir : {"core", "client", "server", "proto"}) {
    const std::string text = Read(std::string(dir) + "/CMakeLists.txt");
    for (std::sregex_iterator it(text.begin(), text.end(), add), end; it != end; ++it) targets.insert((*it)[2]);
  }
  return targets;
}

TEST(CiBuild, TestShRunsTheInstallAndBuildScriptsAndNoCompilerOfItsOwn) {
  EXPECT_NE(Read(".ci/run").find("scripts/test.sh"), std::string::npos) << ".ci/run no longer runs scripts/test.sh";
  int install = 0, build = 0;
  for (const std::string& line : Lines(Read("scripts/test.sh"))) {
    const std::string code = Trim(line.substr(0, line.find('#')));
    for (const std::string& command : SimpleCommands(code)) {
      std::map<std::string, std::string> env;
      std::vector<std::string> args;
      if (Invokes(command, "scripts/install-deps.sh", &env, &args)) ++install;
      if (Invokes(command, "scripts/build.sh", &env, &args)) {
        ++build;
        // CI adds only the peer tests' npm directory to the configure step.
        for (const std::string& arg : args) EXPECT_EQ(arg.rfind("-DMUKE_NPM_DIR=", 0), 0u) << command;
      }
      EXPECT_FALSE(IsBuildTool(Program(command)) && Program(command) != "ctest")
          << "scripts/test.sh builds by itself (`" << command << "`): put it in scripts/build.sh, which the "
          << "Dockerfiles run too";
    }
  }
  EXPECT_EQ(install, 1) << "scripts/test.sh must run scripts/install-deps.sh once";
  EXPECT_EQ(build, 1) << "scripts/test.sh must build with scripts/build.sh once";

  const std::string build_sh = Read("scripts/build.sh");
  EXPECT_NE(build_sh.find("cmake -S . -B \"$BUILD_DIR\""), std::string::npos) << build_sh;
  EXPECT_NE(build_sh.find("cmake --build \"$BUILD_DIR\""), std::string::npos) << build_sh;
}

// The build stage of a Dockerfile runs exactly `bash scripts/install-deps.sh` and then scripts/build.sh (with
// only BUILD_DIR/BUILD_TARGETS/JOBS set and `allowed_args` added), after copying the tree; no RUN anywhere
// compiles by itself.
void ExpectBuildsLikeCi(const std::string& path, const std::set<std::string>& allowed_args) {
  SCOPED_TRACE(path);
  const Dockerfile file = Parse(Read(path));
  const int build = file.Stage("build");
  ASSERT_GT(build, 0) << "no `FROM ... AS build` stage";

  int install_at = -1, copy_tree_at = -1, build_at = -1, index = 0;
  std::string targets;
  for (const Instruction& i : file.instructions) {
    ++index;
    if (i.keyword != "RUN" && i.keyword != "COPY") continue;
    if (i.keyword == "COPY") {
      if (i.stage == build && Words(i.args) == std::vector<std::string>{".", "."}) copy_tree_at = index;
      continue;
    }
    for (const std::string& command : SimpleCommands(i.args)) {
      EXPECT_FALSE(IsBuildTool(Program(command)))
          << "RUN " << i.args << ": the images build only through scripts/build.sh, like CI";
      std::map<std::string, std::string> env;
      std::vector<std::string> args;
      if (Invokes(command, "scripts/install-deps.sh", &env, &args)) {
        EXPECT_EQ(i.stage, build);
        EXPECT_EQ(Trim(i.args), "bash scripts/install-deps.sh") << "install exactly as CI does";
        EXPECT_EQ(install_at, -1) << "scripts/install-deps.sh runs twice";
        install_at = index;
      }
      if (Invokes(command, "scripts/build.sh", &env, &args)) {
        EXPECT_EQ(i.stage, build);
        EXPECT_EQ(SimpleCommands(i.args).size(), 1u) << "RUN " << i.args << ": scripts/build.sh alone";
        EXPECT_EQ(build_at, -1) << "scripts/build.sh runs twice";
        build_at = index;
        for (const auto& [name, value] : env) {
          EXPECT_TRUE(name == "BUILD_DIR" || name == "BUILD_TARGETS" || name == "JOBS")
              << name << "=" << value << " is not a scripts/build.sh setting";
        }
        targets = env["BUILD_TARGETS"];
        for (const std::string& arg : args) {
          EXPECT_TRUE(allowed_args.count(arg.substr(0, arg.find('=') + 1)) > 0)
              << "scripts/build.sh " << arg << ": CI configures without it";
        }
      }
    }
  }
  ASSERT_NE(install_at, -1) << "the build stage must RUN bash scripts/install-deps.sh";
  ASSERT_NE(build_at, -1) << "the build stage must RUN scripts/build.sh";
  ASSERT_NE(copy_tree_at, -1) << "the build stage must COPY . . (the whole context) before building";
  EXPECT_LT(install_at, build_at);
  EXPECT_LT(copy_tree_at, build_at);

  // The targets it builds exist, and are the programs docker/collect-runtime.sh copies into the image.
  const std::set<std::string> defined = CmakeTargets();
  std::set<std::string> built;
  for (const std::string& target : Words(targets)) {
    EXPECT_TRUE(defined.count(target)) << "BUILD_TARGETS names " << target << ", which no CMakeLists.txt defines";
    built.insert(target);
  }
  const std::string collect = Read("docker/collect-runtime.sh");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(collect, m, std::regex("for program in ([^;]+); do")));
  const std::vector<std::string> copied = Words(m[1]);
  EXPECT_EQ(built, std::set<std::string>(copied.begin(), copied.end()));
}

TEST(DockerBuild, CpuImageBuildsExactlyLikeCi) { ExpectBuildsLikeCi("docker/Dockerfile", {}); }

TEST(DockerBuild, CudaImageBuildsLikeCiWithItsLibtorch) {
  // The same scripts; only where libtorch is differs (-DCMAKE_PREFIX_PATH), so the CMake build takes a CUDA
  // libtorch unchanged.
  ExpectBuildsLikeCi("docker/Dockerfile.cuda", {"-DCMAKE_PREFIX_PATH="});
}

// The final stage: what docker/Dockerfile's header, deploy/k8s and the README promise.
void ExpectRuntimeStage(const std::string& path, const std::string& config) {
  SCOPED_TRACE(path);
  const Dockerfile file = Parse(Read(path));
  const int runtime = file.last_stage();
  ASSERT_GT(runtime, 1) << "multi-stage: the build stage and a runtime stage";

  const auto users = file.Of(runtime, "USER");
  ASSERT_FALSE(users.empty()) << "the runtime stage must switch to a non-root USER";
  const std::string user = Words(users.back().args).at(0);
  EXPECT_NE(user.substr(0, user.find(':')), "root");
  EXPECT_NE(user.substr(0, user.find(':')), "0");
  EXPECT_EQ(user, "10001:10001") << "deploy/k8s/base/deployment.yaml runs as 10001";

  std::set<std::string> ports;
  for (const auto& i : file.Of(runtime, "EXPOSE")) {
    for (const auto& w : Words(i.args)) ports.insert(w);
  }
  EXPECT_EQ(ports, (std::set<std::string>{"50051", "9090"}));

  std::string volumes;
  for (const auto& i : file.Of(runtime, "VOLUME")) volumes += i.args;
  for (const char* volume : {"\"/models\"", "\"/data\"", "\"/exports\""}) {
    EXPECT_NE(volumes.find(volume), std::string::npos) << "VOLUME " << volume;
  }

  const auto health = file.Of(runtime, "HEALTHCHECK");
  ASSERT_EQ(health.size(), 1u);
  EXPECT_NE(health[0].args.find("CMD muke "), std::string::npos) << health[0].args;
  EXPECT_NE(health[0].args.find(" health"), std::string::npos) << health[0].args;

  const auto entrypoint = file.Of(runtime, "ENTRYPOINT");
  ASSERT_EQ(entrypoint.size(), 1u);
  EXPECT_EQ(entrypoint[0].args, "[\"muke-server\"]");
  const auto cmd = file.Of(runtime, "CMD");
  ASSERT_EQ(cmd.size(), 1u);
  EXPECT_EQ(cmd[0].args, "[\"--config\", \"/etc/muke/muke-server.yaml\"]");
  bool config_copied = false;
  for (const auto& i : file.Of(runtime, "COPY")) {
    config_copied |= Words(i.args) == std::vector<std::string>{config, "/etc/muke/muke-server.yaml"};
  }
  EXPECT_TRUE(config_copied) << "COPY " << config << " /etc/muke/muke-server.yaml";
  EXPECT_TRUE(fs::exists(kSource + "/" + config)) << config;
}

TEST(DockerBuild, CpuRuntimeStage) { ExpectRuntimeStage("docker/Dockerfile", "docker/muke-server.yaml"); }
TEST(DockerBuild, CudaRuntimeStage) {
  ExpectRuntimeStage("docker/Dockerfile.cuda", "docker/muke-server-cuda.yaml");
  const Dockerfile file = Parse(Read("docker/Dockerfile.cuda"));
  const auto from = file.Of(file.last_stage(), "FROM");
  ASSERT_EQ(from.size(), 1u);
  EXPECT_EQ(from[0].args.rfind("nvidia/cuda:", 0), 0u) << "the official CUDA runtime image: " << from[0].args;
}

// .dockerignore keeps out build outputs and VCS data, and nothing the build stage needs.
TEST(DockerBuild, DockerignoreKeepsWhatTheBuildNeeds) {
  std::vector<std::string> patterns;
  for (const std::string& line : Lines(Read(".dockerignore"))) {
    const std::string p = Trim(line);
    if (!p.empty() && p[0] != '#') patterns.push_back(p);
  }
  // Docker matches with Go's filepath.Match plus `**`; fnmatch with FNM_PATHNAME is equivalent for these.
  auto ignored = [&](const std::string& path) {
    for (const std::string& p : patterns) {
      if (p.rfind("**/", 0) == 0) {
        // **/name: any path ending in that component.
        const std::string tail = p.substr(3);
        for (const auto& part : fs::path(path)) {
          if (fnmatch(tail.c_str(), part.c_str(), 0) == 0) return true;
        }
        continue;
      }
      // A pattern also excludes everything below what it matches.
      fs::path prefix;
      for (const auto& part : fs::path(path)) {
        prefix /= part;
        if (fnmatch(p.c_str(), prefix.c_str(), FNM_PATHNAME) == 0) return true;
      }
    }
    return false;
  };
  for (const char* needed : {"CMakeLists.txt", "scripts/install-deps.sh", "scripts/build.sh", "core/CMakeLists.txt",
                             "client/CMakeLists.txt", "server/CMakeLists.txt", "proto/CMakeLists.txt",
                             "tests/CMakeLists.txt", "docker/collect-runtime.sh", "docker/muke-server.yaml",
                             "docker/muke-server-cuda.yaml"}) {
    EXPECT_TRUE(fs::exists(kSource + "/" + needed)) << needed;
    EXPECT_FALSE(ignored(needed)) << ".dockerignore drops " << needed << ", which the image build needs";
  }
  for (const char* dropped : {".git/config", "build/bin/muke-server", "build-deploy/CMakeCache.txt",
                              "data/models/stories260K/config.json", "build/npm-peers/node_modules/x/package.json"}) {
    EXPECT_TRUE(ignored(dropped)) << ".dockerignore should drop " << dropped;
  }
}

// The parser itself, on the constructs the Dockerfiles use.
TEST(DockerBuild, ParserJoinsContinuationsAndSkipsComments) {
  const Dockerfile file = Parse(
      "# c\nARG X=1\nFROM debian:12 AS build\nRUN a \\\n    # inside\n    && b\nFROM debian:12\nUSER 1:1\n");
  ASSERT_EQ(file.instructions.size(), 5u);
  EXPECT_EQ(file.Stage("build"), 1);
  EXPECT_EQ(file.last_stage(), 2);
  EXPECT_EQ(file.instructions[2].keyword, "RUN");
  EXPECT_EQ(SimpleCommands(file.instructions[2].args), (std::vector<std::string>{"a", "b"}));
  std::map<std::string, std::string> env;
  std::vector<std::string> args;
  EXPECT_TRUE(Invokes("BUILD_TARGETS=\"a b\" bash scripts/build.sh -DX=1", "scripts/build.sh", &env, &args));
  EXPECT_EQ(env["BUILD_TARGETS"], "a b");
  EXPECT_EQ(args, std::vector<std::string>{"-DX=1"});
  EXPECT_TRUE(IsBuildTool(Program("CC=x /usr/bin/cmake --build b")));
}

}  // namespace
