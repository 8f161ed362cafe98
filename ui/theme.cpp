#include "ui/theme.h"

#include <QApplication>
#include <QPalette>
#include <QStyle>
#include <QStyleFactory>

static void initDitstudioResources() { Q_INIT_RESOURCE(ditstudio); }

namespace ditstudio::ui {

void initResources() { initDitstudioResources(); }

void applyTheme(QApplication& app, bool isDark) {
    app.setStyle(QStyleFactory::create("Fusion"));
    if (!isDark) {
        app.setPalette(app.style()->standardPalette());
        return;
    }
    QPalette p;
    const QColor window(37, 38, 42), base(27, 28, 31), text(222, 222, 226), disabled(120, 120, 128);
    const QColor accent(76, 145, 230);
    p.setColor(QPalette::Window, window);
    p.setColor(QPalette::WindowText, text);
    p.setColor(QPalette::Base, base);
    p.setColor(QPalette::AlternateBase, QColor(33, 34, 38));
    p.setColor(QPalette::ToolTipBase, QColor(50, 52, 58));
    p.setColor(QPalette::ToolTipText, text);
    p.setColor(QPalette::PlaceholderText, QColor(130, 130, 138));
    p.setColor(QPalette::Text, text);
    p.setColor(QPalette::Button, QColor(48, 50, 55));
    p.setColor(QPalette::ButtonText, text);
    p.setColor(QPalette::BrightText, QColor(255, 90, 90));
    p.setColor(QPalette::Light, QColor(70, 72, 78));
    p.setColor(QPalette::Midlight, QColor(58, 60, 66));
    p.setColor(QPalette::Mid, QColor(140, 142, 150));
    p.setColor(QPalette::Dark, QColor(22, 22, 25));
    p.setColor(QPalette::Shadow, Qt::black);
    p.setColor(QPalette::Highlight, accent);
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::Link, accent.lighter(120));
    for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText}) {
        p.setColor(QPalette::Disabled, role, disabled);
    }
    p.setColor(QPalette::Disabled, QPalette::Button, QColor(42, 43, 47));
    app.setPalette(p);
}

} // namespace ditstudio::ui
