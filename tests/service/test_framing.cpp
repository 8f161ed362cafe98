// The protocol's framing and message validation: round trips, and every kind of malformed input rejected with
// the right error code before it can do harm.
#include "core/protocol/framing.h"
#include "core/protocol/messages.h"

#include <QtTest/QtTest>

using namespace ditstudio::protocol;

namespace {

std::string fixedHeader(const char magic[4], uint16_t version, uint16_t flags, uint32_t headerBytes,
                        uint32_t payloadBytes) {
    std::string out(magic, 4);
    out += static_cast<char>(version & 0xff);
    out += static_cast<char>(version >> 8);
    out += static_cast<char>(flags & 0xff);
    out += static_cast<char>(flags >> 8);
    for (uint32_t v : {headerBytes, payloadBytes}) {
        for (int i = 0; i < 4; ++i) {
            out += static_cast<char>((v >> (8 * i)) & 0xff);
        }
    }
    return out;
}

std::string decodeError(const std::string& bytes) {
    FrameDecoder decoder;
    decoder.feed(bytes.data(), bytes.size());
    try {
        while (decoder.next()) {
        }
    } catch (const ProtocolError& e) {
        return e.code();
    }
    return "";
}

std::string validationError(const nlohmann::json& header, Direction direction, std::string payload = {}) {
    try {
        validateMessage(Message(header, std::move(payload)), direction);
    } catch (const ProtocolError& e) {
        return e.code() + ": " + e.what();
    }
    return "";
}

} // namespace

class TestFraming : public QObject {
    Q_OBJECT
private slots:
    void roundTripKeepsHeaderAndBinaryPayload() {
        std::string payload;
        for (int i = 0; i < 70000; ++i) {
            payload += static_cast<char>(i * 7);
        }
        const Message sent(nlohmann::json{{"type", "preview"}, {"job", 3}, {"prompt", "café ☕"}}, payload);
        const std::string frame = encodeFrame(sent);
        QCOMPARE(frame.substr(0, 4), std::string("DSWP"));
        // Fed one byte at a time, then as two frames in one chunk.
        FrameDecoder decoder;
        std::optional<Message> got;
        for (char c : frame) {
            QVERIFY(!got);
            decoder.feed(&c, 1);
            got = decoder.next();
        }
        QVERIFY(got.has_value());
        QCOMPARE(got->header, sent.header);
        QVERIFY(got->payload == payload);
        const std::string two = frame + encodeFrame(Message(nlohmann::json{{"type", "ok"}, {"reply_to", 1}}));
        decoder.feed(two.data(), two.size());
        QCOMPARE(decoder.next()->type(), std::string("preview"));
        QCOMPARE(decoder.next()->type(), std::string("ok"));
        QVERIFY(!decoder.next());
        QCOMPARE(decoder.bufferedBytes(), size_t(0));
    }

    void malformedFramesAreRejected_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("code");
        const std::string json = R"({"type":"ok"})";
        auto frame = [&](const char magic[4], uint16_t v, uint16_t f, uint32_t h, uint32_t p, const std::string& body) {
            const std::string s = fixedHeader(magic, v, f, h, p) + body;
            return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
        };
        const uint32_t n = static_cast<uint32_t>(json.size());
        auto body = [&](const std::string& text) {
            return frame(kFrameMagic, 1, 0, static_cast<uint32_t>(text.size()), 0, text);
        };
        QTest::newRow("bad magic") << frame("HTTP", 1, 0, n, 0, json) << "bad_frame";
        QTest::newRow("future framing version") << frame(kFrameMagic, 2, 0, n, 0, json) << "incompatible_version";
        QTest::newRow("nonzero flags") << frame(kFrameMagic, 1, 4, n, 0, json) << "bad_frame";
        QTest::newRow("empty header") << frame(kFrameMagic, 1, 0, 0, 0, "") << "bad_frame";
        QTest::newRow("oversized header length") << frame(kFrameMagic, 1, 0, kMaxHeaderBytes + 1, 0, "") << "too_large";
        QTest::newRow("oversized payload length") << frame(kFrameMagic, 1, 0, n, kMaxPayloadBytes + 1, json)
                                                  << "too_large";
        QTest::newRow("header not JSON") << body("{{{{{") << "bad_frame";
        QTest::newRow("header an array") << body("[1,2,3]") << "bad_frame";
        QTest::newRow("no type") << body(R"({"a":1})") << "bad_frame";
        QTest::newRow("type not a string") << body(R"({"type":1})") << "bad_frame";
        QTest::newRow("empty type") << body(R"({"type":""})") << "bad_frame";
        const std::string deep = std::string(200, '[') + std::string(200, ']');
        QTest::newRow("nested 200 deep") << body(deep) << "bad_frame";
        QTest::newRow("invalid UTF-8") << body("{\"type\":\"\xff\xfe\"}") << "bad_frame";
        QTest::newRow("truncated JSON") << body(R"({"type":"ok")") << "bad_frame";
    }
    void malformedFramesAreRejected() {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, code);
        QCOMPARE(QString::fromStdString(decodeError(bytes.toStdString())), code);
    }

    void oversizedLengthIsRejectedFromTheFixedHeaderAlone() {
        // Only the 16 bytes have arrived; the decoder must not wait for (or buffer) 4 GiB.
        FrameDecoder decoder;
        const std::string header = fixedHeader(kFrameMagic, 1, 0, 10, 0xffffffffu);
        decoder.feed(header.data(), header.size());
        QVERIFY_THROWS_EXCEPTION(ProtocolError, decoder.next());
        // ... and stays broken: the stream cannot be resynchronised.
        QVERIFY_THROWS_EXCEPTION(ProtocolError, decoder.next());
    }

    void encodeRefusesOversizedPayload() {
        Message big(nlohmann::json{{"type", "frames"}}, std::string(kMaxPayloadBytes + 1, 'x'));
        QVERIFY_THROWS_EXCEPTION(ProtocolError, encodeFrame(big));
    }

    void validationNamesTheField_data() {
        QTest::addColumn<QString>("header");
        QTest::addColumn<int>("direction");
        QTest::addColumn<QString>("expected"); // empty = valid
        const int c2w = static_cast<int>(Direction::ClientToWorker), w2c = static_cast<int>(Direction::WorkerToClient);
        QTest::newRow("valid hello") << R"({"type":"hello","id":0,"protocol":1,"client":"t"})" << c2w << "";
        QTest::newRow("request without id") << R"({"type":"get_status"})" << c2w << "bad_message: get_status: field \"id\"";
        QTest::newRow("unknown type") << R"({"type":"format_disk","id":1})" << c2w << "unknown_type";
        QTest::newRow("event type sent by a client") << R"({"type":"finished","id":1,"job":1})" << c2w << "unknown_type";
        QTest::newRow("missing required") << R"({"type":"cancel","id":1})" << c2w
                                          << "bad_message: cancel: required field \"job\"";
        QTest::newRow("wrong type") << R"({"type":"cancel","id":1,"job":"7"})" << c2w
                                    << "bad_message: cancel: field \"job\" must be a non-negative integer, got string";
        QTest::newRow("negative job id") << R"({"type":"cancel","id":1,"job":-1})" << c2w << "bad_message";
        QTest::newRow("unknown field") << R"({"type":"get_status","id":1,"verbose":true})" << c2w
                                       << "bad_message: get_status: unknown field \"verbose\"";
        QTest::newRow("settings not an object") << R"({"type":"submit","id":1,"settings":"x","model":"m"})" << c2w
                                                << "bad_message: submit: field \"settings\" must be an object";
        QTest::newRow("valid step event")
            << R"({"type":"step","job":1,"step":3,"total":50,"it_per_s":1.5,"eta_s":31.3,"elapsed_s":2.0})" << w2c << "";
        QTest::newRow("error reply") << R"({"type":"error","code":"x","message":"y"})" << w2c << "";
    }
    void validationNamesTheField() {
        QFETCH(QString, header);
        QFETCH(int, direction);
        QFETCH(QString, expected);
        const std::string got =
            validationError(nlohmann::json::parse(header.toStdString()), static_cast<Direction>(direction));
        if (expected.isEmpty()) {
            QCOMPARE(QString::fromStdString(got), QString());
        } else {
            QVERIFY2(QString::fromStdString(got).startsWith(expected), got.c_str());
        }
    }

    void payloadOnlyWhereTheMessageHasOne() {
        QVERIFY(validationError({{"type", "get_status"}, {"id", 1}}, Direction::ClientToWorker, "xx").find(
                    "carries no payload") != std::string::npos);
        QCOMPARE(validationError({{"type", "preview"}, {"job", 1}, {"step", 1}, {"frames", 1}, {"height", 2},
                                  {"width", 2}, {"format", "rgb8"}},
                                 Direction::WorkerToClient, std::string(12, 'x')),
                 std::string());
    }

    void everyCatalogueEntryIsDocumented() {
        QFile doc(QStringLiteral(DITSTUDIO_SOURCE_DIR "/docs/protocol.md"));
        QVERIFY2(doc.open(QIODevice::ReadOnly), "docs/protocol.md is missing");
        const QString text = QString::fromUtf8(doc.readAll());
        for (const auto& spec : messageCatalogue()) {
            QVERIFY2(text.contains(QStringLiteral("### `%1`").arg(spec.type)),
                     qPrintable(QStringLiteral("docs/protocol.md has no section for %1").arg(spec.type)));
        }
    }
};

QTEST_GUILESS_MAIN(TestFraming)
#include "test_framing.moc"
