// Error dialogs that say what went wrong and what to do: a failure (a refused request, a failed job, a lost
// connection) is turned into a title, a plain sentence, advice, and the technical message for the details.
#pragma once
#include <QString>

class QWidget;

namespace ditstudio::ui {

struct ErrorAdvice {
    QString title;     // "The worker could not be reached"
    QString summary;   // what happened, in a sentence
    QString advice;    // what to do
    QString details;   // the original message (never shown alone)
};

// `context`: the request or stage ("connect", "submit", "decode", "export", "preset"); `code`: the protocol error
// code or job failure kind; `message`: the technical text.
ErrorAdvice adviseOnError(const QString& context, const QString& code, const QString& message);

// A window-modal QMessageBox with the advice (the technical message under "Show Details..."); returns at once.
void showErrorDialog(QWidget* parent, const ErrorAdvice& advice);

} // namespace ditstudio::ui
