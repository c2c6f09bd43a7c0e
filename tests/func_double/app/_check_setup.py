"""Block until _IS_INSTALLED is true (skipped when _DISABLE_SETUP); polls every 3 s."""
import dff_common as C

if __name__ == '__main__':
    C.wait_installed()
