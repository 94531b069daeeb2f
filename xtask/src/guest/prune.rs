//! Keeps only the shared libraries a guest can load. The package closure of a window system brings far more
//! than the guests run (weston's remote-desktop and screencast backends alone pull FFmpeg, FreeRDP and
//! GStreamer, about 250 MB unpacked), and every byte of an initramfs is unpacked at each boot. So the image
//! keeps the libraries reachable through DT_NEEDED from its programs and from the modules that are loaded
//! with dlopen and named here, and drops every other shared object.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Component, Path, PathBuf};

/// Modules loaded with dlopen that the guests use, relative to the multiarch library folder. A first
/// component ending in `*` matches any folder starting with the rest (weston's is versioned); a trailing `/`
/// keeps every module of the folder.
const LOADED_MODULES: &[&str] = &[
    // weston --backend=headless --shell=kiosk (its renderer, pixman, is part of libweston).
    "libweston-*/headless-backend.so",
    "weston/kiosk-shell.so",
    // vkmark's window systems and scene loaders.
    "vkmark/",
    // What our ICD loads at run time for presentation (x11rb and wayland-client load them).
    "libxcb.so.1",
    "libX11-xcb.so.1",
    "libwayland-client.so.0",
    // glibc loads it for thread cancellation and unwinding; our Rust programs arrive per run and need it.
    "libgcc_s.so.1",
];

/// Where the loader and glibc look for libraries, relative to the root.
fn search_folders(multiarch: &str) -> Vec<PathBuf> {
    vec![PathBuf::from(multiarch), PathBuf::from("usr/lib")]
}

/// Folders whose ELF files are all programs the guest may run.
const PROGRAM_FOLDERS: &[&str] = &["usr/bin", "usr/sbin", "usr/libexec"];

/// The Vulkan loader's manifests: the libraries they name are loaded with dlopen.
const VULKAN_MANIFEST_FOLDERS: &[&str] = &[
    "usr/share/vulkan/icd.d",
    "usr/share/vulkan/implicit_layer.d",
    "usr/share/vulkan/explicit_layer.d",
];

pub struct Pruned {
    pub kept: usize,
    pub removed: usize,
    pub removed_bytes: u64,
}

/// Removes every shared object under the library folders of `rootfs` that no program, named module or
/// Vulkan manifest reaches.
pub fn prune_unreachable_libraries(rootfs: &Path, multiarch: &str) -> Result<Pruned, String> {
    let mut roots = Vec::new();
    for folder in PROGRAM_FOLDERS {
        collect_files(&rootfs.join(folder), &mut roots)?;
    }
    roots.retain(|path| is_elf(path));
    for module in LOADED_MODULES {
        roots.extend(matching_modules(&rootfs.join(multiarch), module)?);
    }
    roots.extend(manifest_libraries(rootfs, multiarch)?);

    let kept = closure(rootfs, multiarch, roots)?;
    // usr/lib holds the multiarch folder: one walk sees every shared object once.
    let mut candidates = Vec::new();
    collect_files(&rootfs.join("usr/lib"), &mut candidates)?;
    let mut pruned = Pruned {
        kept: 0,
        removed: 0,
        removed_bytes: 0,
    };
    for path in candidates {
        if !is_shared_object_name(&path) || path.starts_with(rootfs.join("usr/lib/modules")) {
            continue;
        }
        if kept.contains(&path) {
            pruned.kept += 1;
            continue;
        }
        let size = std::fs::symlink_metadata(&path).map_or(0, |m| m.len());
        std::fs::remove_file(&path)
            .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        pruned.removed += 1;
        pruned.removed_bytes += size;
    }
    Ok(pruned)
}

/// `libfoo.so`, `libfoo.so.1`, `libfoo.so.1.2.3`, `module.so`.
fn is_shared_object_name(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    name.is_some_and(|name| name.ends_with(".so") || name.contains(".so."))
}

/// Every file and symlink below `folder` (symlinks are not followed); nothing when it does not exist.
fn collect_files(folder: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", folder.display()))?;
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        if kind.is_dir() {
            collect_files(&entry.path(), out)?;
        } else {
            out.push(entry.path());
        }
    }
    Ok(())
}

fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

/// The files of `library_folder` that `pattern` (see [`LOADED_MODULES`]) names.
fn matching_modules(library_folder: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let (folder_pattern, rest) = match pattern.split_once('/') {
        Some((folder, rest)) => (Some(folder), rest),
        None => (None, pattern),
    };
    let folders: Vec<PathBuf> = match folder_pattern {
        None => vec![library_folder.to_path_buf()],
        Some(folder) => match folder.strip_suffix('*') {
            None => vec![library_folder.join(folder)],
            Some(prefix) => std::fs::read_dir(library_folder)
                .map_err(|e| format!("{}: {e}", library_folder.display()))?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| {
                    path.is_dir()
                        && path
                            .file_name()
                            .is_some_and(|name| name.to_string_lossy().starts_with(prefix))
                })
                .collect(),
        },
    };
    let mut found = Vec::new();
    for folder in folders {
        if rest.is_empty() {
            collect_files(&folder, &mut found)?;
        } else if std::fs::symlink_metadata(folder.join(rest)).is_ok() {
            found.push(folder.join(rest));
        }
    }
    Ok(found)
}

/// The `library_path` of every Vulkan manifest, as a path in `rootfs`.
fn manifest_libraries(rootfs: &Path, multiarch: &str) -> Result<Vec<PathBuf>, String> {
    let mut manifests = Vec::new();
    for folder in VULKAN_MANIFEST_FOLDERS {
        collect_files(&rootfs.join(folder), &mut manifests)?;
    }
    let mut libraries = Vec::new();
    for manifest in manifests {
        let text = std::fs::read_to_string(&manifest)
            .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON: {e}", manifest.display()))?;
        let named = [&json["ICD"]["library_path"], &json["layer"]["library_path"]];
        for library in named.into_iter().filter_map(|value| value.as_str()) {
            let path = Path::new(library);
            if path.is_absolute() {
                libraries.push(inside(rootfs, path));
            } else if let Some(found) = search_folders(multiarch)
                .iter()
                .map(|folder| rootfs.join(folder).join(path))
                .find(|candidate| candidate.exists())
            {
                libraries.push(found);
            }
        }
    }
    Ok(libraries)
}

/// `path` (absolute in the guest) as a path below `rootfs`.
fn inside(rootfs: &Path, path: &Path) -> PathBuf {
    let relative: PathBuf = path
        .components()
        .filter(|component| matches!(component, Component::Normal(_)))
        .collect();
    rootfs.join(relative)
}

/// `path` (below `rootfs`) with every folder on the way resolved inside `rootfs` — `/lib` is a link to
/// `usr/lib` in the guests — and its last component left as it is, link or not.
fn real_folders(rootfs: &Path, path: &Path, depth: u32) -> PathBuf {
    let Ok(relative) = path.strip_prefix(rootfs) else {
        return path.to_path_buf();
    };
    let components: Vec<Component> = relative.components().collect();
    let mut current = rootfs.to_path_buf();
    for (index, component) in components.iter().enumerate() {
        match component {
            Component::ParentDir if current != rootfs => {
                current.pop();
            }
            Component::Normal(name) => {
                current.push(name);
                let is_folder = index + 1 < components.len();
                let mut hops = depth;
                while is_folder && hops < 16 {
                    let Ok(target) = std::fs::read_link(&current) else {
                        break;
                    };
                    let parent = current.parent().unwrap_or(rootfs).to_path_buf();
                    let target = if target.is_absolute() {
                        inside(rootfs, &target)
                    } else {
                        parent.join(target)
                    };
                    hops += 1;
                    current = real_folders(rootfs, &target, hops);
                }
            }
            _ => {}
        }
    }
    current
}

/// Follows symlinks inside `rootfs` (absolute targets are the guest's, not the host's). Returns every path on
/// the way with its folders resolved, the final file last.
fn resolve_links(rootfs: &Path, path: &Path) -> Vec<PathBuf> {
    let mut current = real_folders(rootfs, path, 0);
    let mut chain = vec![current.clone()];
    for _ in 0..16 {
        let Ok(target) = std::fs::read_link(&current) else {
            break;
        };
        let next = if target.is_absolute() {
            inside(rootfs, &target)
        } else {
            current
                .parent()
                .map(|parent| parent.join(&target))
                .unwrap_or(target)
        };
        current = real_folders(rootfs, &next, 0);
        chain.push(current.clone());
    }
    chain
}

/// Every file the roots reach through DT_NEEDED (with DT_RUNPATH/DT_RPATH and `$ORIGIN`), symlinks included,
/// and the program interpreter.
fn closure(
    rootfs: &Path,
    multiarch: &str,
    roots: Vec<PathBuf>,
) -> Result<BTreeSet<PathBuf>, String> {
    let mut kept = BTreeSet::new();
    let mut queue: VecDeque<PathBuf> = roots.into();
    while let Some(path) = queue.pop_front() {
        let chain = resolve_links(rootfs, &path);
        let newly_reached = chain.iter().any(|link| !kept.contains(link));
        kept.extend(chain.iter().cloned());
        let Some(file) = chain.last() else { continue };
        if !newly_reached || !file.is_file() {
            continue;
        }
        let bytes =
            std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        // Not every file in a program folder is ELF (scripts), and a broken one is not ours to judge.
        let Ok(elf) = goblin::elf::Elf::parse(&bytes) else {
            continue;
        };
        let origin = file.parent().unwrap_or(rootfs).to_path_buf();
        let mut folders: Vec<PathBuf> = elf
            .runpaths
            .iter()
            .chain(elf.rpaths.iter())
            .flat_map(|list| list.split(':'))
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                if let Some(rest) = entry.strip_prefix("$ORIGIN") {
                    origin.join(rest.trim_start_matches('/'))
                } else {
                    inside(rootfs, Path::new(entry))
                }
            })
            .collect();
        folders.extend(search_folders(multiarch).iter().map(|f| rootfs.join(f)));
        if let Some(interpreter) = elf.interpreter {
            queue.push_back(inside(rootfs, Path::new(interpreter)));
        }
        for needed in &elf.libraries {
            if let Some(found) = folders
                .iter()
                .map(|folder| folder.join(needed))
                .find(|candidate| std::fs::symlink_metadata(candidate).is_ok())
            {
                queue.push_back(found);
            }
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_object_names_include_versioned_ones_only() {
        for name in [
            "libfoo.so",
            "libfoo.so.1",
            "libfoo.so.1.2.3",
            "headless-backend.so",
        ] {
            assert!(is_shared_object_name(Path::new(name)), "{name}");
        }
        for name in ["libfoo.a", "so.txt", "libsomething.sources", "foo.socket"] {
            assert!(!is_shared_object_name(Path::new(name)), "{name}");
        }
    }

    #[test]
    fn absolute_links_resolve_inside_the_root() {
        let root = std::env::temp_dir().join(format!("venus-rs-prune-{}", std::process::id()));
        let lib = root.join("usr/lib/x");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(lib.join("libreal.so.1.0"), b"").unwrap();
        std::os::unix::fs::symlink("libreal.so.1.0", lib.join("libreal.so.1")).unwrap();
        std::os::unix::fs::symlink("/usr/lib/x/libreal.so.1", lib.join("libabs.so")).unwrap();
        let chain = resolve_links(&root, &lib.join("libabs.so"));
        assert_eq!(
            chain,
            vec![
                lib.join("libabs.so"),
                lib.join("libreal.so.1"),
                lib.join("libreal.so.1.0")
            ]
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn linked_folders_resolve_to_the_real_ones() {
        // The guests' layout: /lib -> usr/lib, and the interpreter named through it.
        let root = std::env::temp_dir().join(format!("venus-rs-folders-{}", std::process::id()));
        let lib = root.join("usr/lib/x");
        std::fs::create_dir_all(&lib).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        std::fs::write(lib.join("ld.so.1"), b"").unwrap();
        std::os::unix::fs::symlink("x/ld.so.1", root.join("usr/lib/ld.so.1")).unwrap();
        let chain = resolve_links(&root, &root.join("lib/ld.so.1"));
        assert_eq!(
            chain,
            vec![root.join("usr/lib/ld.so.1"), root.join("usr/lib/x/ld.so.1")]
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_versioned_module_folder_is_matched_by_its_prefix() {
        let root = std::env::temp_dir().join(format!("venus-rs-modules-{}", std::process::id()));
        std::fs::create_dir_all(root.join("libweston-14")).unwrap();
        std::fs::write(root.join("libweston-14/headless-backend.so"), b"").unwrap();
        std::fs::write(root.join("libweston-14/rdp-backend.so"), b"").unwrap();
        let found = matching_modules(&root, "libweston-*/headless-backend.so").unwrap();
        assert_eq!(found, vec![root.join("libweston-14/headless-backend.so")]);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
