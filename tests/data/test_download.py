"""Downloads against a local HTTP server on 127.0.0.1 serving synthetic files: OSF's file
manifest, HTTP Range resumption, checksum refusal, atomic publishing, safe unpacking."""

import hashlib
import io
import json
import os
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from sk_icnet.data import fetch_ns1, get_data_home, load_ns1
from sk_icnet.data._download import download_file, extract_zip, osf_file_info

from .ns1_files import write_ns1


class Server:
    """Serves ``files`` (name -> bytes) at /download/<name> with Range support and OSF-like
    file entities at /v2/files/<guid>/; ``break_after[name]`` cuts the next transfer of a
    file after that many bytes; ``manifest_override[guid]`` changes an entity's fields."""

    def __init__(self):
        self.files, self.guids, self.break_after, self.overrides, self.requests = {}, {}, {}, {}, []
        self.files_endpoint_refuses = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                if self.path.startswith("/v2/guids/"):  # OSF resolves a guid to its entity
                    self.send_response(302)
                    self.send_header("Location", f"/v2/files/{self.path.split('/')[3]}/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if self.path.startswith("/v2/files/"):
                    guid = self.path.split("/")[3]
                    if guid in server.files_endpoint_refuses:
                        server.files_endpoint_refuses.discard(guid)
                        return self._send(404, b"{}")
                    name = server.guids[guid]
                    body = server.files[name]
                    attributes = {"name": name, "size": len(body), "extra": {"hashes": {
                        "md5": hashlib.md5(body).hexdigest(),
                        "sha256": hashlib.sha256(body).hexdigest()}}}
                    attributes.update(server.overrides.get(guid, {}))
                    entity = {"data": {"id": guid, "type": "files", "attributes": attributes,
                                       "links": {"download": f"{server.url}/download/{name}"}}}
                    return self._send(200, json.dumps(entity).encode())
                name = self.path.rsplit("/", 1)[-1]
                body = server.files[name]
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                cut = server.break_after.pop(name, None)
                self.wfile.write(body[start: cut] if cut is not None else body[start:])
                if cut is not None:
                    self.close_connection = True

            def _send(self, code, body):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with Server() as s:
        yield s


def test_a_broken_off_transfer_resumes_with_a_range_request(server, tmp_path):
    body = np.random.default_rng(0).bytes(300_000)
    server.files["f.bin"] = body
    server.break_after["f.bin"] = 100_000
    dest = tmp_path / "f.bin"
    sha = hashlib.sha256(body).hexdigest()
    url = f"{server.url}/download/f.bin"
    with pytest.raises(OSError, match="call again to resume"):
        download_file(url, dest, size=len(body), sha256=sha, progress=False)
    assert not dest.exists() and (tmp_path / "f.bin.part").stat().st_size == 100_000
    download_file(url, dest, size=len(body), sha256=sha, progress=False)
    assert dest.read_bytes() == body and not (tmp_path / "f.bin.part").exists()
    assert server.requests[-1] == ("/download/f.bin", "bytes=100000-")


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(server, tmp_path):
    server.files["f.bin"] = b"x" * 5000
    dest = tmp_path / "f.bin"
    with pytest.raises(ValueError, match=r"its md5 is .*, the manifest.s 0+\); it was deleted"):
        download_file(f"{server.url}/download/f.bin", dest, size=5000, md5="0" * 32,
                      progress=False)
    assert os.listdir(tmp_path) == []


def test_a_server_sending_more_than_the_manifest_lists_is_refused_and_leaves_nothing(server,
                                                                                     tmp_path):
    server.files["f.bin"] = b"y" * 3000
    with pytest.raises(ValueError, match="sends 3000 bytes, more than the 1000 its manifest"):
        download_file(f"{server.url}/download/f.bin", tmp_path / "f.bin", size=1000,
                      md5="0" * 32, progress=False)
    assert os.listdir(tmp_path) == []


def test_a_file_already_there_and_matching_is_not_downloaded_again(server, tmp_path):
    body = b"abc" * 1000
    server.files["f.bin"] = body
    (tmp_path / "f.bin").write_bytes(body)
    download_file(f"{server.url}/download/f.bin", tmp_path / "f.bin", size=len(body),
                  md5=hashlib.md5(body).hexdigest(), progress=False)
    assert server.requests == []
    (tmp_path / "f.bin").write_bytes(b"other")
    with pytest.raises(ValueError, match="already exists and is not the file"):
        download_file(f"{server.url}/download/f.bin", tmp_path / "f.bin", size=len(body),
                      md5=hashlib.md5(body).hexdigest(), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == b"other"  # a user's file is never replaced


def test_a_file_without_a_checksum_is_not_downloaded(server, tmp_path):
    server.files["f.bin"] = b"data"
    server.guids["abc12"] = "f.bin"
    server.overrides["abc12"] = {"extra": {}}
    info = osf_file_info("abc12", api_url=f"{server.url}/v2")
    assert info["md5"] is None and info["sha256"] is None and info["size"] == 4
    with pytest.raises(ValueError, match="needs an md5 or sha256"):
        download_file(info["url"], tmp_path / "f.bin", size=4, progress=False)
    assert os.listdir(tmp_path) == []


def test_the_osf_manifest_gives_name_size_hashes_and_link(server):
    server.files["a.mat"] = b"123456"
    server.guids["gdwyd"] = "a.mat"
    info = osf_file_info("gdwyd", api_url=f"{server.url}/v2")
    assert info == {"name": "a.mat", "size": 6, "md5": hashlib.md5(b"123456").hexdigest(),
                    "sha256": hashlib.sha256(b"123456").hexdigest(),
                    "url": f"{server.url}/download/a.mat"}
    server.files_endpoint_refuses.add("gdwyd")  # then the guids endpoint, which redirects
    assert osf_file_info("gdwyd", api_url=f"{server.url}/v2")["size"] == 6
    assert [p for p, _ in server.requests[-3:]] == ["/v2/files/gdwyd/", "/v2/guids/gdwyd/",
                                                    "/v2/files/gdwyd/"]
    server.overrides["gdwyd"] = {"size": "six"}
    with pytest.raises(ValueError, match="gives size 'six'"):
        osf_file_info("gdwyd", api_url=f"{server.url}/v2")
    with pytest.raises(ValueError, match="letters and digits"):
        osf_file_info("../x", api_url=f"{server.url}/v2")


def zip_bytes(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_entry_outside_its_folder_is_refused_and_nothing_unpacked(tmp_path):
    (tmp_path / "bad.zip").write_bytes(zip_bytes({"ok.txt": b"1", "../escape.txt": b"2"}))
    with pytest.raises(ValueError, match="outside the folder"):
        extract_zip(tmp_path / "bad.zip", tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["bad.zip"]


def test_a_zip_unpacking_to_more_than_allowed_is_refused(tmp_path):
    (tmp_path / "big.zip").write_bytes(zip_bytes({"a.bin": b"\0" * 10_000}))
    with pytest.raises(ValueError, match="unpacks to 10000 bytes, more than 1000"):
        extract_zip(tmp_path / "big.zip", tmp_path / "out", max_bytes=1000)
    assert sorted(os.listdir(tmp_path)) == ["big.zip"]


def test_the_data_home_comes_from_the_argument_the_environment_or_the_home(tmp_path, monkeypatch):
    assert get_data_home(tmp_path / "a") == str(tmp_path / "a") and (tmp_path / "a").is_dir()
    monkeypatch.setenv("SK_ICNET_DATA", str(tmp_path / "b"))
    assert get_data_home() == str(tmp_path / "b")
    monkeypatch.delenv("SK_ICNET_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert get_data_home() == str(tmp_path / "home" / "sk_icnet_data")


def serve_ns1_release(server, tmp_path):
    """A synthetic release laid out as on OSF: the metadata, spikesandwav.zip, ReadMe.rtf."""
    source = tmp_path / "source"
    write_ns1(source, n_neurons=2, clip_s=0.05)
    entries = {}
    for root, _, names in os.walk(source / "spikesandwav"):
        for name in names:
            full = os.path.join(root, name)
            entries[os.path.relpath(full, source)] = open(full, "rb").read()
    server.files["MetadataSHEnCneurons.mat"] = (source / "MetadataSHEnCneurons.mat").read_bytes()
    server.files["spikesandwav.zip"] = zip_bytes(entries)
    server.files["ReadMe.rtf"] = b"{\\rtf1 NS1}"
    server.guids.update({"gdwyd": "MetadataSHEnCneurons.mat", "5nxga": "spikesandwav.zip",
                         "f3rtm": "ReadMe.rtf"})
    return source


def test_fetch_ns1_downloads_checks_unpacks_and_reads_the_release(server, tmp_path):
    source = serve_ns1_release(server, tmp_path)
    home = tmp_path / "home"
    server.break_after["spikesandwav.zip"] = 20_000
    with pytest.raises(OSError, match="resume"):
        fetch_ns1(home, download=True, osf_api_url=f"{server.url}/v2", progress=False)
    data = fetch_ns1(home, download=True, osf_api_url=f"{server.url}/v2", progress=False)
    assert ("/download/spikesandwav.zip", "bytes=20000-") in server.requests
    expected = load_ns1(source)
    np.testing.assert_array_equal(data.y_repeats, expected.y_repeats)
    np.testing.assert_array_equal(data.X, expected.X)
    assert sorted(os.listdir(home / "NS1")) == ["MetadataSHEnCneurons.mat", "ReadMe.rtf",
                                                "spikesandwav", "spikesandwav.zip"]
    n_requests = len(server.requests)
    fetch_ns1(home, download=True, osf_api_url=f"{server.url}/v2", progress=False)
    assert len(server.requests) == n_requests  # in the cache: nothing asked of the server


def test_fetch_ns1_without_download_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        fetch_ns1(tmp_path)
