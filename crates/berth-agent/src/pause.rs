//! Berth's pause image, made on the host rather than pulled (no registry needed): an
//! image whose only file is `/pause`, a static Linux executable of a few dozen bytes
//! that waits for signals forever. An awsvpc task's pause container holds the task's
//! network namespace, as in the ECS agent; it ignores SIGTERM as PID 1, so it is
//! stopped with a zero timeout (SIGKILL).
//!
//! The executable is one ELF64 header, one loadable segment and a loop around the
//! `pause` system call (x86-64) or `ppoll` with no descriptors (arm64, which has no
//! `pause`).

/// The program's machine code and ELF machine number for this architecture.
fn code() -> Option<(u16, &'static [u8])> {
    match std::env::consts::ARCH {
        // loop: mov eax, 34 (pause); syscall; jmp loop
        "x86_64" => Some((0x3e, &[0xb8, 0x22, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7])),
        // loop: mov x0..x3, #0; mov x8, #73 (ppoll); svc #0; b loop
        "aarch64" => Some((
            0xb7,
            &[
                0x00, 0x00, 0x80, 0xd2, 0x01, 0x00, 0x80, 0xd2, 0x02, 0x00, 0x80, 0xd2, 0x03, 0x00,
                0x80, 0xd2, 0x28, 0x09, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4, 0xfa, 0xff, 0xff, 0x17,
            ],
        )),
        _ => None,
    }
}

const BASE: u64 = 0x40_0000;
const EHDR: usize = 64;
const PHDR: usize = 56;

/// The `/pause` executable for this host's architecture, or `None` on an architecture
/// Berth has no pause program for.
pub fn executable() -> Option<Vec<u8>> {
    let (machine, code) = code()?;
    let size = (EHDR + PHDR + code.len()) as u64;
    let mut elf = Vec::with_capacity(size as usize);
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&machine.to_le_bytes());
    elf.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
    elf.extend_from_slice(&(BASE + (EHDR + PHDR) as u64).to_le_bytes()); // entry
    elf.extend_from_slice(&(EHDR as u64).to_le_bytes()); // program headers
    elf.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    elf.extend_from_slice(&0u32.to_le_bytes()); // flags
    for half in [EHDR as u16, PHDR as u16, 1, 64, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R + X
    for word in [0, BASE, BASE, size, size, 0x1000] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    elf.extend_from_slice(code);
    Some(elf)
}

/// A tar archive holding `/pause` (mode 0755), the root filesystem of the pause image.
pub fn rootfs_tar() -> Option<Vec<u8>> {
    let body = executable()?;
    let mut header = [0u8; 512];
    let mut put = |at: usize, field: &[u8]| header[at..at + field.len()].copy_from_slice(field);
    put(0, b"pause");
    put(100, b"0000755\0");
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{:011o}\0", body.len()).as_bytes());
    put(136, b"00000000000\0");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    // The checksum is computed with its own field as spaces.
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut tar = header.to_vec();
    tar.extend_from_slice(&body);
    tar.resize(tar.len().next_multiple_of(512) + 1024, 0);
    Some(tar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executable_is_a_runnable_elf_that_waits_until_killed() {
        let elf = executable().expect("this architecture has a pause program");
        assert_eq!(&elf[..4], b"\x7fELF");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pause");
        std::fs::write(&path, &elf).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = std::process::Command::new(&path).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            child.try_wait().unwrap().is_none(),
            "pause must keep running"
        );
        child.kill().unwrap();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9));
    }

    #[test]
    fn the_tar_holds_one_executable_file_with_a_valid_checksum() {
        let tar = rootfs_tar().unwrap();
        assert_eq!(tar.len() % 512, 0);
        let header = &tar[..512];
        assert_eq!(&header[..6], b"pause\0");
        let stored = std::str::from_utf8(&header[148..154]).unwrap();
        let mut blank = header.to_vec();
        blank[148..156].copy_from_slice(b"        ");
        let sum: u32 = blank.iter().map(|b| u32::from(*b)).sum();
        assert_eq!(u32::from_str_radix(stored, 8).unwrap(), sum);
        let size = usize::from_str_radix(std::str::from_utf8(&header[124..135]).unwrap(), 8);
        assert_eq!(size.unwrap(), executable().unwrap().len());
    }
}
