<?php
/*
 * Fill a MediaWiki through MediaWiki's own classes, as its editors would.
 *   MW_CONFIG_FILE=... php seed_mediawiki.php --step=users SPEC.json
 *   (then maintenance/importImages.php uploads the photos)
 *   MW_CONFIG_FILE=... php seed_mediawiki.php --step=pages SPEC.json   -> JSON of what it made
 * SPEC: {"users": [NAME...], "edits": [{"title", "user", "time": "YYYYmmddHHMMSS", "text"}],
 *   "delete_pages": [TITLE...], "delete_files": [NAME...],
 *   "hide_text": [{"title", "edit": N}]}   (N: the page's Nth edit in "edits", from 0)
 */

use MediaWiki\MediaWikiServices;
use MediaWiki\Revision\RevisionRecord;
use MediaWiki\Revision\SlotRecord;
use Wikimedia\Timestamp\ConvertibleTimestamp;

require_once getenv('MW_INSTALL_PATH') . '/maintenance/Maintenance.php';

class SeedLifeboatTestWiki extends Maintenance {
    public function __construct() {
        parent::__construct();
        $this->addOption('step', 'users or pages', true, true);
        $this->addArg('spec', 'the JSON spec');
    }

    public function execute() {
        $spec = json_decode(file_get_contents($this->getArg(0)), true);
        if ($this->getOption('step') === 'users') {
            foreach ($spec['users'] as $name) {
                User::createNew($name);
            }
            return;
        }
        $services = MediaWikiServices::getInstance();
        $admin = User::newFromName('Admin');  // sysop since install.php
        $made = [];  // title -> [revision ids in edit order]
        foreach ($spec['edits'] as $edit) {
            ConvertibleTimestamp::setFakeTime($edit['time']);
            $title = Title::newFromText($edit['title']);
            $page = $services->getWikiPageFactory()->newFromTitle($title);
            $updater = $page->newPageUpdater(User::newFromName($edit['user']));
            $updater->setContent(SlotRecord::MAIN, ContentHandler::makeContent($edit['text'], $title));
            $revision = $updater->saveRevision(
                CommentStoreComment::newUnsavedComment($edit['summary'] ?? 'edit'));
            if (!$updater->getStatus()->isOK()) {
                $this->fatalError($updater->getStatus()->getWikiText());
            }
            $made[$title->getPrefixedText()][] = $revision ? $revision->getId() : null;
        }
        ConvertibleTimestamp::setFakeTime(false);
        $context = RequestContext::getMain();
        $context->setUser($admin);
        foreach ($spec['hide_text'] as $hide) {
            $title = Title::newFromText($hide['title']);
            $list = RevisionDeleter::createList('revision', $context, $title,
                                                [$made[$title->getPrefixedText()][$hide['edit']]]);
            $status = $list->setVisibility(['value' => [RevisionRecord::DELETED_TEXT => 1],
                                            'comment' => 'hidden by the test']);
            if (!$status->isOK()) { $this->fatalError($status->getWikiText()); }
        }
        $out = ['pages' => $this->pages(), 'deleted' => []];
        foreach ($spec['delete_pages'] as $name) {
            $page = $services->getWikiPageFactory()->newFromTitle(Title::newFromText($name));
            $services->getDeletePageFactory()->newDeletePage($page, $admin)
                ->deleteUnsafe('deleted by the test');
            $out['deleted'][] = $name;
        }
        foreach ($spec['delete_files'] as $name) {
            $title = Title::makeTitle(NS_FILE, $name);
            $file = $services->getRepoGroup()->getLocalRepo()->newFile($title);
            $status = FileDeleteForm::doDelete($title, $file, null, 'deleted by the test', false,
                                               $admin);
            if (!$status->isOK()) { $this->fatalError($status->getWikiText()); }
            $out['deleted'][] = $title->getPrefixedText();
        }
        echo json_encode($out, JSON_UNESCAPED_SLASHES), "\n";
    }

    /** Every page with every revision, and the file of a File: page, before deletions. */
    private function pages(): array {
        $services = MediaWikiServices::getInstance();
        $db = $this->getDB(DB_PRIMARY);
        $store = $services->getRevisionStore();
        $pages = [];
        $result = $db->select('page', ['page_id', 'page_namespace', 'page_title'], '',
                              __METHOD__, ['ORDER BY' => 'page_id']);
        foreach ($result as $row) {
            $title = Title::makeTitle($row->page_namespace, $row->page_title);
            $revisions = [];
            $revIds = $db->selectFieldValues('revision', 'rev_id', ['rev_page' => $row->page_id],
                                             __METHOD__, ['ORDER BY' => 'rev_id']);
            foreach ($revIds as $revId) {
                $rev = $store->getRevisionById((int)$revId);
                $revisions[] = [
                    'id' => $rev->getId(), 'user' => $rev->getUser(RevisionRecord::RAW)->getName(),
                    'timestamp' => wfTimestamp(TS_ISO_8601, $rev->getTimestamp()),
                    'text_hidden' => $rev->isDeleted(RevisionRecord::DELETED_TEXT)];
            }
            $file = null;
            if ($row->page_namespace == NS_FILE) {
                $local = $services->getRepoGroup()->getLocalRepo()->newFile($title);
                $local->load();
                $file = ['url' => wfExpandUrl($local->getUrl(), PROTO_CANONICAL),
                         'path' => $local->getLocalRefPath(), 'old' => []];
                foreach ($local->getHistory() as $old) {  // earlier uploads, newest first
                    $file['old'][] = ['url' => wfExpandUrl($old->getUrl(), PROTO_CANONICAL),
                                      'path' => $old->getLocalRefPath()];
                }
            }
            $pages[] = ['id' => (int)$row->page_id, 'title' => $title->getPrefixedText(),
                        'namespace' => (int)$row->page_namespace, 'revisions' => $revisions,
                        'file' => $file];
        }
        return $pages;
    }
}

$maintClass = SeedLifeboatTestWiki::class;
require_once RUN_MAINTENANCE_IF_MAIN;
