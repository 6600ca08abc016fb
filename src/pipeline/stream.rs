//! The streamed `sync`: the first sync of a pair (a migration) pulls both
//! sides at once and, once the target side is read, plans each page of the
//! source side as it arrives (`paged`) and writes it on the target's rate
//! budget while the next page is read. The two accounts have separate rate
//! limits, so the run takes about as long as the longer of reading the
//! source and writing the target, not their sum.
//!
//! `Stream::of` decides which runs stream, before any request: a `sync` of
//! one pair that holds no link yet, whose source side is pulled in full,
//! with no `max_changes` limit (a change count is known only once the whole
//! source is read, and it must be known before the first write; with no
//! link there is nothing to delete, so `max_deletes` cannot be crossed),
//! with one match key, and neither scoped, creating schema nor pairing
//! notes (by their content). Every other run plans whole before it writes.
//! Writes go through the same door as any `sync` (`write`), so journaled
//! creates, the report and an early stop (a signal, a daily limit) are the
//! same. This module
//! decides nothing about a record (the planner does) and sends no write
//! itself.

use super::paged::{self, Paged};
use super::planning::plan_pair;
use super::pull::{
    OwnersCache, fill_metadata, forget_pair_snapshots, full_snapshot, previous_snapshot,
    pull_object,
};
use super::write::{Created, Output, resolve_and_apply_pair, stopped_early, stops_early};
use super::{Limits, by_side, object_fields};
use crate::apply::Applier;
use crate::config::{Config, Endpoint, PairConfig, SchemaPolicy};
use crate::mapping::PlannedLinks;
use crate::model::{ObjectKind, Record, Side};
use crate::plan::{Item, PairPlan, Plan};
use crate::report::{Report, Stop};
use crate::snapshot::{Snapshot, Written};
use crate::state::State;
use anyhow::{Result, anyhow};
use std::collections::{BTreeMap, HashSet};
use std::sync::mpsc;

/// A `sync` run that streams: its one pair, and the side listed page by
/// page (the left one, unless the pair only writes to the left).
pub struct Stream<'a> {
    pair: &'a PairConfig,
    source: Side,
    /// The source object's last snapshot, if any (a full pull follows it).
    previous: Option<Snapshot>,
    started_ms: i64,
    full: bool,
    /// The state as the run found it: every page, and the whole pair's
    /// plan, are planned on it (the applier moves the real one forward).
    found: State,
}

/// What the pages of a streamed pair did.
struct Pages {
    /// The records they wrote, by the side written, and their items.
    written: Vec<(Side, Written)>,
    items: Vec<Item>,
    /// Every record listed (those a signal kept from being planned last)
    /// and the ids of those decided on their page; none if the listing
    /// never started.
    listed: Option<(Vec<Record>, HashSet<String>)>,
    /// How the writes ended: `Err` for a whole-call error or a signal.
    stopped: Result<()>,
}

impl Default for Pages {
    fn default() -> Pages {
        Pages {
            written: Vec::new(),
            items: Vec::new(),
            listed: None,
            stopped: Ok(()),
        }
    }
}

/// What the listing thread hands over: first the source object's snapshot
/// with no records (its owners and labels), then each page.
enum Listing {
    Started(Box<Snapshot>),
    Page(Vec<Record>),
}

impl<'a> Stream<'a> {
    /// The stream this `sync` run makes, if it is one that streams (see
    /// the module's notes); `None` for a run that plans whole first.
    pub fn of(
        config: &Config,
        pairs: &[&'a PairConfig],
        state: &State,
        limits: Limits,
        full: bool,
    ) -> Option<Stream<'a>> {
        let [pair] = pairs else { return None };
        if limits.max_changes.or(pair.max_changes).is_some()
            || !pair.fallback_match_fields().is_empty()
            || pair.schema == SchemaPolicy::Create
            || pair.left.object == ObjectKind::Notes
            || Side::BOTH.iter().any(|side| pair.scope[*side].is_some())
        {
            return None;
        }
        if let Some(links) = state.pair(&pair.name)
            && !(links.is_empty()
                && links.pending().is_empty()
                && links.pending_merges().is_empty())
        {
            return None;
        }
        let source = if pair.direction.writes(Side::Right) {
            Side::Left
        } else {
            Side::Right
        };
        // The source is listed whole at the vendor, with no property
        // definitions (another pair on it may scope or create schema).
        let object = pair.endpoint(source);
        if crate::scope::selection(config, object).is_some()
            || super::sides_on(config, object)
                .any(|(other, side)| !crate::schema::fields_to_describe(other, side).is_empty())
        {
            return None;
        }
        let started_ms = crate::timestamp::now_ms();
        // Unscoped (above): listed whole.
        let (previous, in_full) = previous_snapshot(config, object, full, started_ms, &None);
        in_full.then(|| Stream {
            pair,
            source,
            previous,
            started_ms,
            full,
            found: state.clone(),
        })
    }

    /// Pulls both sides at once, plans and writes the source side page by
    /// page as it is listed, then plans and writes the rest of the pair on
    /// everything read; returns the plan applied, in the order a run that
    /// does not stream gives it. The state is saved as it goes and the
    /// snapshots at the end. A signal stops the run after the batch in
    /// flight, a limit that lifts later (a daily limit, a rate limit) after
    /// the batch it stopped (`report.stopped`).
    pub fn run(self, out: &Output, state: &mut State, report: &mut Report) -> Result<Plan> {
        let Output {
            config,
            connectors,
            progress,
        } = *out;
        log::info!(
            "streaming {}: {} is planned and written page by page as it is listed",
            self.pair.name,
            self.pair.endpoint(self.source)
        );
        let owners = OwnersCache::default();
        let bar = progress.pending_bar("writing");
        let (tx, rx) = mpsc::channel::<Listing>();
        let (target, part, pages) = std::thread::scope(|s| {
            let target_object = self.pair.endpoint(self.source.other());
            let target = s.spawn(|| {
                pull_object(
                    config,
                    connectors,
                    progress,
                    target_object,
                    self.full,
                    &owners,
                )
            });
            let lister = s.spawn(|| self.list_source(out, &owners, tx));
            let target = target.join().expect("pull thread panicked");
            // Dropping the pages' end ends the listing if the writes
            // stopped first.
            let pages = match &target {
                Ok(target) => self.write_pages(out, rx, target, state, report, &bar),
                Err(_) => {
                    drop(rx);
                    Pages::default()
                }
            };
            let part = lister.join().expect("listing thread panicked");
            (target, part, pages)
        });
        progress.finish(&bar);
        let target = target?;
        let Pages {
            written,
            items,
            listed,
            stopped,
        } = pages;
        let early = stopped_early(stopped, report)?;
        match (part, listed) {
            (Ok(part), Some(listed)) if !early => {
                let pages = (written, items);
                self.finish(out, (part, listed), pages, target, state, report)
            }
            // The listing failed: a limit that lifts later (the source's
            // daily limit) stops the run as it stops the writes.
            (Err(e), _) if !early && crate::interrupt::requested().is_none() => {
                stopped_early(Err(e), report)?;
                self.stopped(config, None, (written, items), target, report)
            }
            (part, listed) => {
                let whole = part
                    .ok()
                    .zip(listed)
                    .map(|(part, (records, _))| self.plan_whole(config, &part, records, &target));
                self.stopped(config, whole, (written, items), target, report)
            }
        }
    }

    /// Plans and applies each page the listing hands over, through one
    /// applier (the state is journaled batch by batch and saved at the
    /// end); stops at a whole-call error, and after an early stop (a
    /// signal, a limit that lifts later) keeps the pages still listed
    /// without planning them, for the whole plan the run shows.
    fn write_pages(
        &self,
        out: &Output,
        listing: mpsc::Receiver<Listing>,
        target: &Snapshot,
        state: &mut State,
        report: &mut Report,
        bar: &indicatif::ProgressBar,
    ) -> Pages {
        let mut pages = Pages::default();
        let mut paged = None;
        let mut unplanned = Vec::new();
        let state_path = State::path(&out.config.state_dir);
        let mut applier = Applier::new(out.connectors, state, &state_path);
        for message in listing {
            let records = match message {
                Listing::Started(part) => {
                    paged = Some(Paged::new(
                        self.pair,
                        self.source,
                        *part,
                        target,
                        &self.found,
                    ));
                    continue;
                }
                Listing::Page(records) => records,
            };
            let Some(paged) = paged.as_mut() else {
                unreachable!("the listing starts with its snapshot")
            };
            if pages.stopped.is_ok() {
                pages.stopped = crate::interrupt::check().map_err(Into::into);
            }
            // Only an early stop leaves `stopped` an error here.
            if pages.stopped.is_err() {
                unplanned.extend(records);
                continue;
            }
            let plan = paged.page(records);
            let applied = resolve_and_apply_pair(
                out,
                &mut applier,
                self.pair,
                &plan,
                &mut Created::new(),
                report,
                bar,
            );
            pages.written.extend(applied.written);
            pages.items.extend(plan.items);
            if let Err(e) = applied.result {
                let early = stops_early(&e);
                pages.stopped = Err(e);
                if !early {
                    break;
                }
            }
        }
        let saved = applier.save();
        pages.stopped = std::mem::replace(&mut pages.stopped, Ok(())).and(saved);
        pages.listed = paged.map(Paged::finish).map(|(mut records, decided)| {
            records.extend(unplanned);
            (records, decided)
        });
        pages
    }

    /// Once the source is listed whole and its pages applied: the rest of
    /// the pair planned and applied, the snapshots saved, and the plan
    /// applied in the order of the whole pair's plan (made meanwhile on
    /// the sides as read), which is what `diff` shows.
    fn finish(
        &self,
        out: &Output,
        (part, (records, decided)): (Snapshot, (Vec<Record>, HashSet<String>)),
        (written, mut items): (Vec<(Side, Written)>, Vec<Item>),
        mut target: Snapshot,
        state: &mut State,
        report: &mut Report,
    ) -> Result<Plan> {
        let Output {
            config,
            connectors,
            progress,
        } = *out;
        let pair = self.pair;
        let (source_object, target_object) = (
            pair.endpoint(self.source),
            pair.endpoint(self.source.other()),
        );
        let mut source = full_snapshot(
            source_object,
            object_fields(config, source_object),
            records,
            self.started_ms,
            self.previous.as_ref(),
        );
        source.owners = part.owners;
        source.labels = part.labels;
        forget_pair_snapshots(config, &[pair])?;
        // What the pages wrote goes into the snapshots the rest is planned
        // on; the sides as read are kept for the whole pair's plan.
        let mut sides = by_side(written);
        let (to_source, to_target) = (
            sides.remove(&self.source).unwrap_or_default(),
            sides.remove(&self.source.other()).unwrap_or_default(),
        );
        let source_as_read = (!to_source.is_empty()).then(|| source.clone());
        let target_as_read = target.clone();
        source.absorb(to_source);
        target.absorb(to_target);
        let (whole, rest) = crate::par::join(
            || {
                let as_read = source_as_read.as_ref().unwrap_or(&source);
                let sides = in_pair_order(self.source, as_read, &target_as_read);
                plan_pair(pair, sides, &self.found, &PlannedLinks::default())
            },
            || {
                let sides = in_pair_order(self.source, &source, &target);
                paged::rest(pair, sides, state, self.source, &decided)
            },
        );
        drop((source_as_read, target_as_read));
        let state_path = State::path(&config.state_dir);
        let mut applier = Applier::new(connectors, state, &state_path);
        let bar = progress.pending_bar("writing");
        let applied = resolve_and_apply_pair(
            out,
            &mut applier,
            pair,
            &rest,
            &mut Created::new(),
            report,
            &bar,
        );
        progress.finish(&bar);
        let mut sides = by_side(applied.written);
        source.absorb(sides.remove(&self.source).unwrap_or_default());
        target.absorb(sides.remove(&self.source.other()).unwrap_or_default());
        let (saved, applied) = crate::par::join(
            || {
                source.save(&Snapshot::path(&config.state_dir, source_object))?;
                target.save(&Snapshot::path(&config.state_dir, target_object))
            },
            || applied.result.and(applier.save()),
        );
        saved?;
        stopped_early(applied, report)?;
        items.extend(rest.items);
        let mut plan = PairPlan {
            name: pair.name.clone(),
            left: pair.left.to_string(),
            right: pair.right.to_string(),
            items,
            duplicates: rest.duplicates,
            records: whole.records,
            scope: whole.scope.clone(),
        };
        let differ = paged::in_order_of(&whole, &mut plan, self.source, &decided);
        if differ > 0 {
            log::warn!(
                "{}: {} decided on their page differently from a plan of the whole listing (a later record shared an email with them); `crmsync diff` shows what is left",
                pair.name,
                crate::plan::counted(differ as u64, "record was", "records were")
            );
        }
        Ok(Plan::new(&config.fingerprint, vec![plan]))
    }

    /// The whole pair's plan on the source as listed and the target as
    /// read, as a run that does not stream makes it.
    fn plan_whole(
        &self,
        config: &Config,
        part: &Snapshot,
        records: Vec<Record>,
        target: &Snapshot,
    ) -> PairPlan {
        let object = self.pair.endpoint(self.source);
        let mut source = full_snapshot(object, object_fields(config, object), records, 0, None);
        source.owners = part.owners.clone();
        source.labels = part.labels.clone();
        let sides = in_pair_order(self.source, &source, target);
        plan_pair(self.pair, sides, &self.found, &PlannedLinks::default())
    }

    /// A stream stopped early (a signal, a limit that lifts later): what
    /// was written is saved (the source is listed again next run), and the
    /// run shows what it set out to do: the `whole` pair's plan where the
    /// source was listed to its end (as a run that does not stream shows
    /// it), else the pages planned. One stopped before any write ends as
    /// any run stopped so while it reads.
    fn stopped(
        &self,
        config: &Config,
        whole: Option<PairPlan>,
        (written, items): (Vec<(Side, Written)>, Vec<Item>),
        mut target: Snapshot,
        report: &mut Report,
    ) -> Result<Plan> {
        let pair = self.pair;
        if report.stopped.is_none() {
            report.stopped = crate::interrupt::requested().map(Stop::Signal);
        }
        let plan = whole.unwrap_or_else(|| PairPlan {
            name: pair.name.clone(),
            left: pair.left.to_string(),
            right: pair.right.to_string(),
            items,
            duplicates: Vec::new(),
            records: target.records.len(),
            scope: Vec::new(),
        });
        let target_object = pair.endpoint(self.source.other());
        absorb_and_save(config, &mut target, target_object, &written, self.source)?;
        if report.writes_done() == 0
            && let Some(stop) = report.stopped.take()
        {
            return Err(stop.into_error());
        }
        Ok(Plan::new(&config.fingerprint, vec![plan]))
    }

    /// Lists the source object page by page into `pages`: first its
    /// snapshot without records (owners and labels, which every page is
    /// planned with), then each page as it arrives. Returns that snapshot.
    fn list_source(
        &self,
        out: &Output,
        owners: &OwnersCache,
        pages: mpsc::Sender<Listing>,
    ) -> Result<Snapshot> {
        let Output {
            config,
            connectors,
            progress,
        } = *out;
        let object = self.pair.endpoint(self.source);
        let fields = object_fields(config, object);
        let mut part = Snapshot::new(
            &object.system,
            object.object,
            fields.clone(),
            Vec::new(),
            self.started_ms,
        );
        fill_metadata(
            config,
            connectors,
            object,
            &mut part,
            owners,
            &BTreeMap::new(),
        )?;
        let stopped = || anyhow!("the run stopped before {object} was listed");
        pages
            .send(Listing::Started(Box::new(part.part(Vec::new()))))
            .map_err(|_| stopped())?;
        let bar = progress.bar(&object.to_string(), None);
        let mut listed = 0;
        connectors[&object.system].list_pages(
            object.object,
            &fields,
            &|done| crate::progress::advance(&bar, done.done, done.total),
            &mut |page| {
                listed += page.len();
                pages.send(Listing::Page(page)).map_err(|_| stopped())
            },
        )?;
        progress.finish(&bar);
        log::info!(
            "pulled {} from {object}",
            crate::plan::counted(listed as u64, "record", "records")
        );
        Ok(part)
    }
}

/// After a stopped stream: the target's snapshot takes what was written
/// to it and is saved, so the next run plans on it.
fn absorb_and_save(
    config: &Config,
    target: &mut Snapshot,
    object: &Endpoint,
    written: &[(Side, Written)],
    source: Side,
) -> Result<()> {
    let to_target: Vec<Written> = written
        .iter()
        .filter(|(side, _)| *side != source)
        .map(|(_, w)| w.clone())
        .collect();
    if to_target.is_empty() {
        return Ok(());
    }
    target.absorb(to_target);
    target.save(&Snapshot::path(&config.state_dir, object))
}

/// The source and the target snapshot as [left, right].
fn in_pair_order<'s>(
    source: Side,
    of_source: &'s Snapshot,
    target: &'s Snapshot,
) -> [&'s Snapshot; 2] {
    match source {
        Side::Left => [of_source, target],
        Side::Right => [target, of_source],
    }
}
