#include "ui/widgets/image_view.h"

#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>

namespace ditstudio::ui {

ImageView::ImageView(QWidget* parent) : QWidget(parent) {
    setMinimumSize(160, 100);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void ImageView::setImage(const QImage& image) {
    image_ = image;
    update();
}

void ImageView::setZoom(double zoom) {
    zoom_ = zoom;
    pan_ = {};
    update();
}

void ImageView::setPlaceholderText(const QString& text) {
    placeholder_ = text;
    update();
}

void ImageView::setCaption(const QString& caption) {
    caption_ = caption;
    update();
}

QRectF ImageView::targetRect() const {
    if (image_.isNull()) {
        return {};
    }
    const QSizeF area = size();
    QSizeF shown = image_.size();
    if (zoom_ == kFit) {
        shown.scale(area, Qt::KeepAspectRatio);
    } else {
        shown *= zoom_;
    }
    const QPointF topLeft((area.width() - shown.width()) / 2.0, (area.height() - shown.height()) / 2.0);
    return QRectF(topLeft + pan_, shown);
}

void ImageView::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    painter.fillRect(rect(), QColor(18, 18, 20));
    if (image_.isNull()) {
        painter.setPen(QColor(140, 140, 150));
        painter.drawText(rect().adjusted(12, 12, -12, -12), Qt::AlignCenter | Qt::TextWordWrap, placeholder_);
        return;
    }
    const QRectF target = targetRect();
    // Small images (latent previews are 1/8 of the video) scale up pixel-exact; large ones smoothly.
    const bool isEnlarged = target.width() > image_.width() * 1.01;
    painter.setRenderHint(QPainter::SmoothPixmapTransform, !isEnlarged || zoom_ == kFit);
    painter.drawImage(target, image_);
    if (!caption_.isEmpty()) {
        const QRect box = painter.fontMetrics().boundingRect(caption_).adjusted(-6, -3, 6, 3).translated(10, 10 +
                          painter.fontMetrics().ascent());
        painter.fillRect(box, QColor(0, 0, 0, 150));
        painter.setPen(Qt::white);
        painter.drawText(box, Qt::AlignCenter, caption_);
    }
}

void ImageView::mousePressEvent(QMouseEvent* event) {
    dragStart_ = event->position();
    panAtDragStart_ = pan_;
}

void ImageView::mouseMoveEvent(QMouseEvent* event) {
    if ((event->buttons() & Qt::LeftButton) && zoom_ != kFit) {
        pan_ = panAtDragStart_ + (event->position() - dragStart_);
        update();
    }
}

void ImageView::wheelEvent(QWheelEvent* event) {
    if (!(event->modifiers() & Qt::ControlModifier) || image_.isNull()) {
        event->ignore();
        return;
    }
    double current = zoom_ == kFit ? targetRect().width() / image_.width() : zoom_;
    current *= event->angleDelta().y() > 0 ? 1.25 : 0.8;
    zoom_ = std::clamp(current, 0.1, 16.0);
    update();
}

} // namespace ditstudio::ui
