// ditstudio: the Qt 6 desktop studio. Parses the few options, builds the worker client (which starts a
// ditstudio-worker when none listens) and shows the main window.
#include "core/protocol/endpoint.h"
#include "core/runtime/model_locator.h"
#include "ui/client/socket_backend.h"
#include "ui/client/worker_client.h"
#include "ui/main_window.h"
#include "ui/widgets/generation_panel.h"
#include "ui/theme.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QPlainTextEdit>
#include <QSettings>
#include <QTimer>

#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>

int main(int argc, char** argv) {
    QApplication::setHighDpiScaleFactorRoundingPolicy(Qt::HighDpiScaleFactorRoundingPolicy::PassThrough);
    QApplication app(argc, argv);
    QApplication::setApplicationName("ditstudio");
    QApplication::setOrganizationName("DiTStudio");
    QApplication::setApplicationDisplayName("DiT Studio");
    QApplication::setApplicationVersion(DITSTUDIO_VERSION);
    QApplication::setDesktopFileName("ditstudio");

    QCommandLineParser parser;
    parser.setApplicationDescription("DiT Studio: text-to-video generation with Wan 2.1");
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption workerOption("worker", "Worker endpoint: unix:/path, tcp://127.0.0.1:PORT (default: "
                                              "$DITSTUDIO_WORKER or the user's runtime socket).",
                                    "endpoint");
    QCommandLineOption noStartOption("no-start-worker", "Do not start a ditstudio-worker when none is listening.");
    QCommandLineOption workerProgramOption("worker-program", "The ditstudio-worker program to start.", "path");
    QCommandLineOption modelOption("model", "The model folder or name to generate with.", "model");
    QCommandLineOption presetOption("preset", "Load this preset at start.", "name");
    QCommandLineOption lightOption("light", "Use the light theme.");
    QCommandLineOption promptOption("prompt", "Put this prompt into the prompt editor.", "text");
    QCommandLineOption generateOption("generate", "Submit a job with the settings shown, once connected.");
    QCommandLineOption screenshotOption("screenshot", "Save a picture of the window to this PNG file (see --screenshot-at-step).",
                                        "file");
    QCommandLineOption screenshotStepOption("screenshot-at-step",
                                            "Take the screenshot when the watched job reaches this denoising step "
                                            "(default: 3 s after the window is shown).",
                                            "step");
    QCommandLineOption quitOption("quit-after-screenshot", "Quit once the screenshot is saved.");
    parser.addOptions({workerOption, noStartOption, workerProgramOption, modelOption, presetOption, lightOption,
                       promptOption, generateOption, screenshotOption, screenshotStepOption, quitOption});
    parser.process(app);

    ditstudio::ui::initResources();
    QSettings settings;
    ditstudio::ui::applyTheme(app, !parser.isSet(lightOption) && settings.value("view/dark", true).toBool());
    app.setWindowIcon(QIcon(":/ditstudio/icon-256.png"));

    ditstudio::ui::SocketBackendOptions backendOptions;
    try {
        backendOptions.endpoint = parser.isSet(workerOption)
                                      ? ditstudio::protocol::Endpoint::parse(parser.value(workerOption).toStdString())
                                      : ditstudio::protocol::Endpoint::fromEnvironment();
    } catch (const std::exception& e) {
        std::cerr << "ditstudio: " << e.what() << "\n";
        return 2;
    }
    backendOptions.isStartingWorker = !parser.isSet(noStartOption);
    backendOptions.workerProgram = parser.value(workerProgramOption);

    ditstudio::ui::WorkerClient client(std::make_unique<ditstudio::ui::SocketBackend>(backendOptions));
    ditstudio::ui::MainWindowOptions windowOptions;
    if (windowOptions.defaultModel.isEmpty()) { // no DITSTUDIO_MODEL: $DITSTUDIO_MODEL_DIR or the embedded demo model
        windowOptions.defaultModel = QString::fromStdString(ditstudio::defaultModelDir().string());
    }
    ditstudio::ui::MainWindow window(&client, windowOptions);
    if (parser.isSet(modelOption)) {
        window.generationPanel()->setModelName(parser.value(modelOption));
    }
    if (parser.isSet(presetOption)) {
        window.loadPreset(parser.value(presetOption));
    }
    if (parser.isSet(promptOption)) {
        window.generationPanel()->findChild<QPlainTextEdit*>("promptEdit")->setPlainText(parser.value(promptOption));
    }
    if (parser.isSet(generateOption)) {
        QObject::connect(&client, &ditstudio::ui::WorkerClient::stateChanged, &window,
                         [&window](ditstudio::ui::WorkerClient::State state) {
                             if (state == ditstudio::ui::WorkerClient::State::Connected) {
                                 window.generate();
                             }
                         });
    }
    if (parser.isSet(screenshotOption)) {
        // A picture of the running studio for the README (scripts/screenshot.sh runs this under Xvfb).
        const QString file = parser.value(screenshotOption);
        const int atStep = parser.value(screenshotStepOption).toInt();
        const bool isQuitting = parser.isSet(quitOption);
        auto take = [&window, file, isQuitting] {
            QTimer::singleShot(400, &window, [&window, file, isQuitting] { // let the preview paint first
                const bool isSaved = window.grab().save(file, "PNG");
                spdlog::info("screenshot {} {}", file.toStdString(), isSaved ? "saved" : "could not be saved");
                if (isQuitting) {
                    QCoreApplication::exit(isSaved ? 0 : 1);
                }
            });
        };
        if (atStep > 0) {
            auto isTaken = std::make_shared<bool>(false);
            QObject::connect(&client, &ditstudio::ui::WorkerClient::progress, &window,
                             [take, atStep, isTaken](const ditstudio::ui::JobProgress& progress) {
                                 if (!*isTaken && progress.step >= atStep) {
                                     *isTaken = true;
                                     take();
                                 }
                             });
        } else {
            QTimer::singleShot(3000, &window, take);
        }
    }
    window.show();
    spdlog::info("ditstudio {} started; worker endpoint {}", DITSTUDIO_VERSION, backendOptions.endpoint.describe());
    return app.exec();
}
