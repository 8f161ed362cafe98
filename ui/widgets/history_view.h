// The history gallery: every output as a thumbnail with its prompt, searchable by prompt; the selected output's
// full settings; "use these settings again", open in the player, compare, reveal the file, delete.
#pragma once
#include <QJsonObject>
#include <QWidget>

class QLineEdit;
class QListView;
class QPlainTextEdit;
class QPushButton;

namespace ditstudio::ui {

class HistoryFilterModel;
class HistoryModel;

class HistoryView : public QWidget {
    Q_OBJECT
public:
    explicit HistoryView(HistoryModel* model, QWidget* parent = nullptr);

    HistoryFilterModel* filterModel() const { return filter_; }
    void setSearchText(const QString& text);
    int selectedSourceRow() const; // -1 when none
    void selectSourceRow(int row);
    QString detailsText() const;

    // The selected output's actions (also what the buttons do).
    void useSelectedSettings();
    void revealSelected();

Q_SIGNALS:
    void useSettingsRequested(const QJsonObject& settings);
    void openRequested(const QString& path, const QString& title);
    void compareRequested(const QString& path, const QString& title);
    void deleteRequested(quint64 job, const QString& path);
    void refreshRequested();

private:
    void showDetails();

    HistoryModel* model_;
    HistoryFilterModel* filter_;
    QLineEdit* searchEdit_;
    QListView* list_;
    QPlainTextEdit* details_;
    QPushButton* useButton_;
    QPushButton* openButton_;
    QPushButton* compareButton_;
    QPushButton* revealButton_;
    QPushButton* deleteButton_;
};

} // namespace ditstudio::ui
