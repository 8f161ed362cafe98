// Shows one image, fitted to the widget or at a fixed zoom (nearest-neighbour above 100 %, so latent previews stay
// crisp), centred, with drag-to-pan when it is larger than the widget.
#pragma once
#include <QImage>
#include <QWidget>

namespace ditstudio::ui {

class ImageView : public QWidget {
    Q_OBJECT
public:
    static constexpr double kFit = 0.0;

    explicit ImageView(QWidget* parent = nullptr);

    void setImage(const QImage& image);
    const QImage& image() const { return image_; }
    void setZoom(double zoom); // kFit, or a factor (1.0 = 100 %)
    double zoom() const { return zoom_; }
    void setPlaceholderText(const QString& text);
    void setCaption(const QString& caption); // drawn at the top-left corner over the image

    QSize sizeHint() const override { return {480, 280}; }

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;

private:
    QRectF targetRect() const;

    QImage image_;
    double zoom_ = kFit;
    QPointF pan_;
    QPointF dragStart_;
    QPointF panAtDragStart_;
    QString placeholder_;
    QString caption_;
};

} // namespace ditstudio::ui
