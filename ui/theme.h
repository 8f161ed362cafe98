// The studio's look: Qt's Fusion style with a dark palette (the default, for judging colours of video) or the
// light one; icons from the resources.
#pragma once

class QApplication;

namespace ditstudio::ui {

void applyTheme(QApplication& app, bool isDark);
// Registers the compiled-in resources (icons) of ditstudio_ui; call once before the first window.
void initResources();

} // namespace ditstudio::ui
