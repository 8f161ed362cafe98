#include "ui/dialogs/error_advice.h"

#include <QMessageBox>

namespace ditstudio::ui {

ErrorAdvice adviseOnError(const QString& context, const QString& code, const QString& message) {
    ErrorAdvice a;
    a.details = message;
    const QString lower = message.toLower();
    if (context == "connect" || code == "connection_failed") {
        a.title = QObject::tr("The worker could not be reached");
        a.summary = QObject::tr("The studio could not connect to a DiT Studio worker, and could not start one.");
        a.advice = QObject::tr("Check that ditstudio-worker is installed beside the studio (or on PATH), then use "
                               "Worker ▸ Reconnect. To use a worker elsewhere, set DITSTUDIO_WORKER (e.g. "
                               "tcp://127.0.0.1:7878) before starting the studio.");
    } else if (code == "connection_lost" || code == "connection_closed") {
        a.title = QObject::tr("The connection to the worker was lost");
        a.summary = QObject::tr("The worker stopped answering while the studio was waiting for \"%1\".").arg(context);
        a.advice = QObject::tr("The worker may have been stopped or crashed. Worker ▸ Reconnect starts a new one; "
                               "the worker keeps its queue and history on disk, so finished outputs are not lost.");
    } else if (lower.contains("out of memory") || code == "out_of_memory" || lower.contains("oom")) {
        a.title = QObject::tr("Out of memory");
        a.summary = QObject::tr("The job needed more memory than the device has.");
        a.advice = QObject::tr("Lower the size or the number of frames, keep tiled VAE decoding on, or split the job "
                               "across more GPUs in the Parallel panel.");
    } else if (code == "invalid_settings" || code == "bad_settings" || lower.contains("expected")) {
        a.title = QObject::tr("The settings were refused");
        a.summary = QObject::tr("A setting is out of range or does not fit this model.");
        a.advice = QObject::tr("Fix the setting named below (the panel that edits it shows the same rule), then "
                               "generate again.");
    } else if (code == "queue_full") {
        a.title = QObject::tr("The queue is full");
        a.summary = QObject::tr("The worker does not accept more queued jobs right now.");
        a.advice = QObject::tr("Wait for queued jobs to finish, or cancel some in the Queue panel.");
    } else if (lower.contains("no such file") || lower.contains("not found") || code == "model_not_found") {
        a.title = QObject::tr("A file is missing");
        a.summary = QObject::tr("A file the %1 needs was not found.").arg(context);
        a.advice = QObject::tr("Check the model folder in the Generation panel (it must hold the DiT, VAE and text "
                               "encoder weights), or the path named below.");
    } else if (context == "export") {
        a.title = QObject::tr("The export failed");
        a.summary = QObject::tr("The clip could not be written; no partial file was left behind.");
        a.advice = QObject::tr("Check that the target folder exists, is writable and has free space, or choose "
                               "another format.");
    } else if (context == "preset") {
        a.title = QObject::tr("The preset is invalid");
        a.summary = QObject::tr("The preset file could not be used; the message names the line and the key.");
        a.advice = QObject::tr("Correct that line in the YAML file (or import a corrected copy).");
    } else if (code == "cancelled") {
        a.title = QObject::tr("Cancelled");
        a.summary = QObject::tr("The job was cancelled.");
        a.advice = QObject::tr("Nothing to do.");
    } else {
        a.title = QObject::tr("The %1 failed").arg(context.isEmpty() ? QObject::tr("request") : context);
        a.summary = QObject::tr("The worker reported an error (%1).").arg(code.isEmpty() ? QObject::tr("unknown") : code);
        a.advice = QObject::tr("Read the message below and the worker's log (Status panel); if it persists, "
                               "restart the worker with Worker ▸ Reconnect.");
    }
    return a;
}

void showErrorDialog(QWidget* parent, const ErrorAdvice& advice) {
    // open(), not exec(): the event loop keeps running (progress, previews) while the dialog is up.
    auto* box = new QMessageBox(QMessageBox::Warning, advice.title, advice.summary, QMessageBox::Ok, parent);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->setInformativeText(advice.advice);
    box->setDetailedText(advice.details);
    box->open();
}

} // namespace ditstudio::ui
